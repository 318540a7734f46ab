"""Does a trained model use its audio? The mouth of its clean-latent estimate against the real mouth.

On the A-eligible clips of a features cache, two windows per clip (the clip's own keypoints box the mouth,
``training/mouth_weight.mouth_box``):

1. ``ridge_r``: how much of the mouth's brightness over time the audio features explain at all: a ridge
   regression from one frame's features to that frame's mouth brightness, fitted on half the clips and
   scored (Pearson r) on the other half. The ceiling a model could reach from the features.
2. ``r_own`` / ``r_other``: the model's clean-latent estimate at ``--sigma`` (1: pure noise, the start of
   sampling, where only the conditions say what to draw) decoded with the codec; Pearson r over the 12
   frames between its mouth brightness and the real clip's, with the clip's own audio and with another
   clip's. A model that follows its audio has ``r_own`` well above ``r_other`` (about 0).

Teacher-forced on training-format windows: no sampler, no FaceMesh. Needs the offline ``patchify`` codec.

Usage::

    python benchmarks/audio_use.py --features data/04_feature --model data/06_models/stage2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from omnihuman_pipeline.features.codec import PatchifyCodec
from omnihuman_pipeline.features.loader import FeatureDataset
from omnihuman_pipeline.models.export import load_model_folder
from omnihuman_pipeline.models.latent_layout import num_pixel_frames
from omnihuman_pipeline.training.conditions import Active
from omnihuman_pipeline.training.data import SamplePlan, WindowDataset, collate_samples, expand_batch
from omnihuman_pipeline.training.flow_matching import add_noise, to_x0
from omnihuman_pipeline.training.module import model_inputs
from omnihuman_pipeline.training.mouth_weight import mouth_box

WINDOW = 4  # latent frames (13 pixel frames)
CODEC = PatchifyCodec()


def clip_mouth_box(record: dict) -> tuple[float, float, float, float] | None:
    """The mean mouth box of a window's frames, or None without confident face keypoints."""
    if record["pose_keypoints"] is None:
        return None
    boxes = [b for b in (mouth_box(f) for f in record["pose_keypoints"]["body"].numpy()) if b is not None]
    return tuple(np.mean(boxes, axis=0)) if boxes else None


def mouth_brightness(latents: torch.Tensor, box: tuple[float, float, float, float]) -> np.ndarray:
    """Mean brightness [F] of the box in the decoded frames of latents [C, T, h, w]."""
    video = CODEC.decode(latents.float())
    h, w = video.shape[2:]
    x0, y0, x1, y1 = box
    ys = slice(int(y0 * h), max(int(y1 * h), int(y0 * h) + 1))
    xs = slice(int(x0 * w), max(int(x1 * w), int(x0 * w) + 1))
    return video[:, :, ys, xs].mean(dim=(0, 2, 3)).numpy()


def ridge_ceiling(ds: FeatureDataset, rows: list[int], lam: float = 1000.0) -> float:
    """Held-out Pearson r of a per-frame ridge regression from audio features to mouth brightness."""
    xs, ys, groups = [], [], []
    for i in rows:
        n = int(ds.rows[i]["n_latent_frames"])
        record = ds.window(i, range(n), range(num_pixel_frames(n)), audio=True, pose=True)
        box = clip_mouth_box(record)
        if record["audio"] is None or box is None:
            continue
        bright = mouth_brightness(record["latents"].float() * record["scale"] + record["offset"], box)
        xs.append(record["audio"].flatten(1).float().numpy())
        ys.append(bright - bright.mean())
        groups.append(np.full(len(bright), i))
    if len(xs) < 2:
        raise SystemExit(f"{len(xs)} A-eligible clips with audio have face keypoints (nose and eyes) to box the mouth; "
                         "need at least 2")
    x, y, g = np.concatenate(xs), np.concatenate(ys), np.concatenate(groups)
    x = (x - x.mean(0)) / (x.std(0) + 1e-3)
    train = np.isin(g, np.unique(g)[::2])
    w = np.linalg.solve(x[train].T @ x[train] + lam * np.eye(x.shape[1]), x[train].T @ y[train])
    return float(np.corrcoef(x[~train] @ w, y[~train])[0, 1])


@torch.no_grad()
def model_follows_audio(ds: FeatureDataset, rows: list[int], model_dir: Path, sigma: float) -> dict[str, float]:
    """Mean r between the estimate's and the real mouth brightness, with the own and another clip's audio."""
    net, card = load_model_folder(model_dir)
    prediction = card.flow.get("prediction", "velocity")
    windows = WindowDataset(ds, WINDOW, {"shift": 1.0}, with_audio=True, with_pose=False)
    on = Active(True, True, False)
    r_own, r_other, std_real, std_pred = [], [], [], []
    for k, i in enumerate(rows):
        j = rows[(k + len(rows) // 2) % len(rows)]
        n = int(ds.rows[i]["n_latent_frames"])
        for start in sorted({1, n - WINDOW - 1}):
            record = ds.window(i, range(start, start + WINDOW), range(4 * start, 4 * start + 13), audio=False, pose=True)
            box = clip_mouth_box(record)
            if box is None:
                continue
            batch = expand_batch(collate_samples([windows[SamplePlan(i, "", start, 0, on, 1000 + k, sigma=sigma)]]))
            other_start = min(start, int(ds.rows[j]["n_latent_frames"]) - WINDOW)
            other = collate_samples([windows[SamplePlan(j, "", other_start, 0, on, 1, sigma=sigma)]])
            noisy = add_noise(batch["latents"], batch["noise"], batch["sigma"])
            real = mouth_brightness(batch["latents"][0], box)[1:]
            if real.std() < 1e-3:
                continue
            for audio, out in ((batch["audio"], r_own), (other["audio"], r_other)):
                x0 = to_x0(net(**model_inputs(net, {**batch, "audio": audio}, noisy)), noisy, batch["sigma"], prediction)
                pred = mouth_brightness(x0[0], box)[1:]
                out.append(float(np.corrcoef(real, pred)[0, 1]) if pred.std() > 1e-6 else 0.0)
                if out is r_own:
                    std_real.append(float(real.std()))
                    std_pred.append(float(pred.std()))
    return {"windows": len(r_own), "r_own": float(np.mean(r_own)), "r_other": float(np.mean(r_other)),
            "mouth_std_real": float(np.mean(std_real)), "mouth_std_model": float(np.mean(std_pred))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=Path, required=True, help="features folder (features.parquet, shards/)")
    parser.add_argument("--model", type=Path, nargs="+", required=True, help="model folders with audio")
    parser.add_argument("--sigma", type=float, default=1.0, help="noise level of the estimate (1: pure noise)")
    args = parser.parse_args(argv)
    ds = FeatureDataset(args.features / "features.parquet", args.features / "shards", render_pose=False)
    rows = [i for i, r in enumerate(ds.rows)
            if r["eligible_A"] and r.get("has_audio") and r["n_latent_frames"] >= WINDOW + 2]
    result = {"clips": len(rows), "ridge_r": round(ridge_ceiling(ds, rows), 3), "sigma": args.sigma, "models": {}}
    for model in args.model:
        result["models"][str(model)] = {k: round(v, 4) for k, v in
                                        model_follows_audio(ds, rows, model, args.sigma).items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
