"""Which swscale filter the curate decode should scale with: time per frame and fidelity, in one run.

    python benchmarks/scaling.py                     # a generated 720p clip (curate_speed's corpus, 1 video)
    python benchmarks/scaling.py --video some.mp4

For each filter, the two scalings `media.decode.FrameReader` does per frame: source -> clip size in yuv420p (what
the encoder takes) and clip size -> analysis size in RGB (what the scorers read), with the tiny profile's sizes
(short sides 256 and 192). Fidelity is the PSNR (dB) against PIL's Lanczos resampling of the same RGB picture:
higher is closer; a filter that aliases scores low. Prints a table and writes benchmarks/results/scaling.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FILTERS = ("FAST_BILINEAR", "BILINEAR", "AREA", "BICUBIC")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255**2 / max(mse, 1e-12))


def _decode_loop(video: Path, n: int, visit) -> None:
    """Decode the first `n` frames and pass each to `visit` while it is fresh in the cache (as in curate)."""
    import av

    with av.open(str(video)) as container:
        for i, frame in enumerate(container.decode(container.streams.video[0])):
            if i == n:
                break
            visit(frame)


def measure(video: Path, n: int, size: tuple[int, int], fmt: str, name: str, via: tuple[int, int] | None = None,
            repeat: int = 3) -> dict:
    """ms per frame of one scaling to `size` in `fmt` with filter `name` (the call alone, timed per frame, best
    of `repeat` passes), and its mean PSNR against Lanczos. `via`: first scale to this size in yuv420p with AREA
    (not timed), as the analysis frame is derived from the clip-size frame."""
    from av.video.reformatter import VideoReformatter
    from PIL import Image

    pre, scaler = VideoReformatter(), VideoReformatter()  # one context each, reused, as FrameReader does
    kw = {"width": size[0], "height": size[1], "format": fmt, "interpolation": name}
    passes, scores = [], []

    def prepare(frame):
        return pre.reformat(frame, width=via[0], height=via[1], format="yuv420p", interpolation="AREA") if via else frame

    def timed(frame):
        src = prepare(frame)
        t0 = time.perf_counter()
        scaler.reformat(src, **kw)
        passes[-1] += time.perf_counter() - t0

    def fidelity(frame):
        if len(scores) < max(1, n // 10):
            src = prepare(frame)
            gold = np.asarray(Image.fromarray(src.to_ndarray(format="rgb24")).resize(size, Image.LANCZOS))
            scores.append(psnr(scaler.reformat(src, **kw).to_ndarray(format="rgb24"), gold))

    for _ in range(repeat):
        passes.append(0.0)
        _decode_loop(video, n, timed)
    _decode_loop(video, n, fidelity)
    return {"ms_per_frame": round(min(passes) / n * 1000, 3), "psnr_vs_lanczos_db": round(float(np.mean(scores)), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, help="a video (default: generate one 720p corpus video)")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/scaling.json")
    args = parser.parse_args()

    import av

    from omnihuman_pipeline.media.decode import fit_short_side

    video = args.video
    if video is None:
        sys.path.insert(0, str(REPO / "benchmarks"))
        from curate_speed import one_corpus_video

        video = one_corpus_video("scaling_bench_")
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        w, h = stream.codec_context.width, stream.codec_context.height
    clip_size, analysis_size = fit_short_side(w, h, 256), fit_short_side(w, h, 192)
    result = {"video": str(video), "source": [w, h], "frames": args.frames, "filters": {}}
    print(f"{video.name}: {w}x{h}, {args.frames} frames; ms per frame of the scaling call, PSNR vs Lanczos")
    print(f"{'filter':14s} {'source->clip yuv':>24s} {'clip->analysis rgb':>24s}")
    for name in FILTERS:
        to_clip = measure(video, args.frames, clip_size, "yuv420p", name)
        to_analysis = measure(video, args.frames, analysis_size, "rgb24", name, via=clip_size)
        result["filters"][name] = {"source_to_clip": to_clip, "clip_to_analysis": to_analysis}
        print(f"{name:14s} {to_clip['ms_per_frame']:8.3f} ms {to_clip['psnr_vs_lanczos_db']:7.2f} dB   "
              f"{to_analysis['ms_per_frame']:8.3f} ms {to_analysis['psnr_vs_lanczos_db']:7.2f} dB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
