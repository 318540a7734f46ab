"""Motion backends on camera paths with known motion: accuracy (px/frame) and time, in one run.

    python benchmarks/motion_flow.py

Each clip is a virtual camera over scikit-image's astronaut (256 px frames, 25 fps): static with sensor
noise, smooth pans at 1, 2 and 8 px/frame, and hand-held shake (random jumps, sigma 6 px). Every backend
scores the same clips with the curate defaults (8 windows of 3 frames, flow at 128 px, magnitudes reported at
256 px). Prints each backend's measured pan speed against the truth, the static/shaky separation, and the
time ratio to Farneback; writes benchmarks/results/motion_flow.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SIZE, N = 256, 50


def camera(image: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Frames [N, SIZE, SIZE, 3] of a camera whose view centre moves by `offsets` [N, 2] px."""
    import cv2

    h, w = image.shape[:2]
    out = []
    for dx, dy in offsets:
        m = np.array([[1, 0, w / 2 + dx - SIZE / 2], [0, 1, h / 2 + dy - SIZE / 2]], np.float64)
        out.append(cv2.warpAffine(image, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REFLECT))
    return np.stack(out)


def clips() -> dict[str, tuple[np.ndarray, float | None]]:
    """name -> (frames, true px/frame of a smooth pan or None)."""
    import skimage.data

    image = skimage.data.astronaut()
    rng = np.random.default_rng(0)
    t = np.arange(N)[:, None]
    static = camera(image, np.zeros((N, 2))).astype(np.float64) + rng.normal(0, 2.0, (N, SIZE, SIZE, 3))
    out = {"static": (np.clip(static, 0, 255).astype(np.uint8), 0.0)}
    for speed in (1.0, 2.0, 8.0):
        out[f"pan_{speed:g}px"] = (camera(image, np.hstack([speed * t - speed * N / 2, 0 * t])), speed)
    out["shaky"] = (camera(image, rng.normal(0, 6.0, (N, 2))), None)
    return out


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/motion_flow.json")
    args = parser.parse_args()

    from omnihuman_pipeline.scoring.base import AnalysisClip
    from omnihuman_pipeline.scoring.motion import MOTION_BACKENDS

    data = clips()
    result: dict[str, dict] = {}
    for name, cls in MOTION_BACKENDS.items():
        scorer = cls()
        scorer.setup()
        scores = {}
        start = time.perf_counter()
        for _ in range(3):
            for clip_name, (frames, _) in data.items():
                scores[clip_name] = scorer.score(AnalysisClip(frames, 25.0))
        seconds = (time.perf_counter() - start) / 3
        result[name] = {
            "seconds_all_clips": round(seconds, 4),
            **{f"{k}_motion": round(s.value, 3) for k, s in scores.items()},
            **{f"{k}_jitter": round(s.extra["jitter"], 3) for k, s in scores.items()},
        }
        errors = [abs(scores[k].value - truth) / truth for k, (_, truth) in data.items() if truth]
        result[name]["pan_mean_relative_error"] = round(float(np.mean(errors)), 4)
    base = result["farneback"]["seconds_all_clips"]
    for name, r in result.items():
        r["time_ratio_to_farneback"] = round(r["seconds_all_clips"] / base, 3)
        pans = "  ".join(f"{k}: {r[f'{k}_motion']:.2f}" for k, (_, t) in data.items() if t)
        print(f"{name:10s} time x{r['time_ratio_to_farneback']:.2f} of farneback   {pans}   "
              f"pan error {r['pan_mean_relative_error']:.1%}   static {r['static_motion']:.2f}   "
              f"shaky jitter {r['shaky_jitter']:.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
