"""Training loop overhead: the full Lightning step against a bare step of the same model, in one run.

* ``lightning``: :func:`omnihuman_pipeline.training.run.train_stage` as the train pipeline runs it —
  batches planned, read from feature shards and cut to windows (pose maps drawn, noise drawn), the
  Lightning loop with AdamW, the warm-up schedule, gradient clipping, the EMA callback, DVCLive
  logging and ``last.ckpt`` checkpoints.
* ``bare``: the same network, optimizer and clipping on the same batches already collated and
  expanded in memory (dequantised latents, noise drawn): ``loss.backward(); clip; opt.step()`` in a
  plain loop — the floor the loop and loader must not starve.
  The full step does that expansion itself (on the model's device, ``expand_batch``), so it counts
  as overhead here, the noise included.
* ``bare + noise``: the same, but each step first draws its batch's noise from the per-sample seeds, as
  the full step does on the model's device (a diffusion training step draws its noise; on a GPU that
  costs next to nothing, on two CPU cores ~8 ms of a ~100 ms step). Both ratios are printed.

They alternate ``--repeat`` times on one synthetic cache with the tiny profile's shapes (768-channel
codec latents of 128x160 frames stored as the codec stores them, uint8 and time-major, 4-latent windows, Whisper-tiny audio, MiniLM text, pose), and the
medians of the per-step times after ``--warmup`` steps are compared. Target: lightning / bare <= 1.15.

On a GPU the same comparison runs with the chosen ``--config``; samples/s, tokens/s, MFU and peak
memory of the base config at 480p latents are measured by ``benchmarks/model_speed.py``.

Usage::

    python benchmarks/train_speed.py                      # tiny shapes, CPU
    python benchmarks/train_speed.py --workers 2          # with DataLoader workers
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import lightning as L
import torch

from omnihuman_pipeline.datasets.model_folder import RunFolder
from omnihuman_pipeline.features.synthetic import ClipSpec, make_cache
from omnihuman_pipeline.training.config import StageSettings, TrainSettings
from omnihuman_pipeline.training.data import OmniDataModule, expand_batch, seeded_noise
from omnihuman_pipeline.training.module import OmniHumanModule
from omnihuman_pipeline.training.run import model_config, train_stage

RESULTS = Path(__file__).parent / "results" / "train_speed.json"
CONDITIONS = ["text", "audio", "pose"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per timed run")
    parser.add_argument("--warmup", type=int, default=5, help="steps left out of the timing")
    parser.add_argument("--repeat", type=int, default=3, help="alternating lightning/bare pairs")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--latent", default="16x20", help="latent h x w (128x160 px frames)")
    parser.add_argument("--window", type=int, default=4, help="noisy latent frames per sample")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--config", default="tiny", help="model preset")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args()


class StepTimer(L.Callback):
    """Wall time of every optimizer step (batch end to batch end)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._last: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self._last is None:
            self._last = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        now = time.perf_counter()
        self.times.append(now - self._last)
        self._last = now


def settings(args: argparse.Namespace) -> tuple[dict, dict]:
    train = {"model": {"preset": args.config},
             "data": {"window_latent_frames": args.window, "batch_size": args.batch, "num_workers": args.workers,
                      "val_fraction": 0.0, "val_min_videos": 0},
             "optimizer": {"lr": 1e-3, "warmup_steps": 10, "global_batch_size": args.batch},
             "ema": {"decay": 0.99}, "flow": {"shift": 1.0},
             "trainer": {"accelerator": "auto", "val_every_n_steps": 0, "checkpoint_every_n_steps": 20,
                         "log_every_n_steps": 5, "progress_bar": False}}
    return train, {"index": 3, "conditions": CONDITIONS, "max_steps": args.steps}


def lightning_run(cache, root: Path, train: dict, stage: dict) -> list[float]:
    timer = StepTimer()
    run = RunFolder(root / "run", root / "logs")
    run.path.mkdir(parents=True, exist_ok=True)
    train_stage(*cache, run, None, {**train, "overwrite": True}, stage, name="bench", callbacks=[timer])
    return timer.times


def bare_run(cache, train: dict, stage: dict, steps: int, noise_in_step: bool = False) -> list[float]:
    index, store = cache
    ts, spec = TrainSettings.from_params(train), StageSettings.from_params("bench", stage)
    dm = OmniDataModule(index, store, conditions=spec.conditions, ratios=ts.ratios, t_only_fraction=1.0,
                        data=ts.data, flow=asdict(ts.flow), with_audio=True, with_pose=True,
                        total_micro_batches=steps)
    dm.setup("fit")
    batches = list(dm.train_dataloader())
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    from omnihuman_pipeline.models import OmniHumanTransformer

    net = OmniHumanTransformer(model_config(index, ts, spec)).to(device)
    module = OmniHumanModule(net, partial(torch.optim.AdamW, lr=1e-3))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
    seeds = [b["noise_seed"].tolist() for b in batches]
    batches = [expand_batch({k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in b.items()})
               for b in batches]
    times = []
    for batch, seed in zip(batches, seeds, strict=True):
        start = time.perf_counter()
        if noise_in_step:
            batch = {**batch, "noise": seeded_noise(batch["latents"].shape, seed, device)}
        loss = module.model_step(batch).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), ts.optimizer.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    args = parse_args()
    h, w = (int(v) for v in args.latent.split("x"))
    train, stage = settings(args)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        specs = [ClipSpec(f"v{i}", A=i % 2 == 0, P=True, n_frames=49, size=(h, w)) for i in range(args.clips)]
        cache = make_cache(root / "features", specs, channels=768, text_len=32, text_dim=384, audio_layers=5,
                           audio_dim=384, clips_per_shard=2, marked=False, quantized=True)
        medians = {"lightning": [], "bare": [], "bare_noise": []}
        for _ in range(args.repeat):
            medians["lightning"].append(statistics.median(lightning_run(cache, root, train, stage)[args.warmup:]))
            medians["bare"].append(statistics.median(bare_run(cache, train, stage, args.steps)[args.warmup:]))
            medians["bare_noise"].append(
                statistics.median(bare_run(cache, train, stage, args.steps, noise_in_step=True)[args.warmup:]))
    lightning, bare = statistics.median(medians["lightning"]), statistics.median(medians["bare"])
    bare_noise = statistics.median(medians["bare_noise"])
    result = {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(), "config": args.config, "latent": [args.window, h, w],
        "batch": args.batch, "workers": args.workers, "steps": args.steps, "warmup": args.warmup,
        "repeat": args.repeat, "lightning_step_s": round(lightning, 5), "bare_step_s": round(bare, 5),
        "bare_noise_step_s": round(bare_noise, 5), "ratio_lightning_to_bare": round(lightning / bare, 3),
        "ratio_lightning_to_bare_noise": round(lightning / bare_noise, 3),
        "per_repeat": {k: [round(v, 5) for v in vs] for k, vs in medians.items()},
        "gpu": "measured by benchmarks/model_speed.py" if torch.cuda.is_available() else "no GPU on this machine",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"train step: lightning {lightning * 1e3:.1f} ms, bare {bare * 1e3:.1f} ms, bare + noise "
          f"{bare_noise * 1e3:.1f} ms; ratio lightning/bare {lightning / bare:.3f}, lightning/(bare + noise) "
          f"{lightning / bare_noise:.3f} (target <= 1.15); {result['device']}, batch {args.batch}, "
          f"workers {args.workers}")


if __name__ == "__main__":
    main()
