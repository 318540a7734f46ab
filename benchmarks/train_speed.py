"""Training loop overhead: the full Lightning step against a bare step of the same model, step by step.

* ``lightning``: :func:`omnihuman_pipeline.training.run.train_stage` as the train pipeline runs it —
  batches planned, read from feature shards and cut to windows (pose maps drawn), the batch moved
  and expanded on the device (latents dequantised, noise drawn from the per-sample seeds), the
  Lightning loop with AdamW, the warm-up schedule, gradient clipping, the EMA callback, DVCLive
  logging and ``last.ckpt`` checkpoints.
* ``bare``: a twin network (same config) with its own AdamW and clipping, on the same batches already
  collated and expanded in memory, noise included: ``loss.backward(); clip; opt.step()`` — the floor
  the loop and the loader must not starve. Drawing the noise therefore counts as overhead.
* ``bare + noise``: the same, but the step first draws its batch's noise from the per-sample seeds, as
  the full step does (a diffusion training step draws its noise; on a GPU that costs next to nothing).

The bare steps run inside the Lightning run: after every Lightning step a callback runs one ``bare``
and one ``bare + noise`` step (in alternating order) on that step's batch, and the Lightning step is
timed from the end of those to the end of the next step. Each Lightning step thus has its two
baselines within ~0.2 s of it, so the drift of a shared machine's speed (+-15 % over seconds here)
falls out of the per-step ratios; the figure is the median per-step ratio after ``--warmup`` steps of
``--repeat`` runs. Printed beside it: the ratio of the mean step times (checkpoint and logging steps
included); the JSON also holds the ratio of the median step times and each run's medians.
Target: lightning / bare <= 1.15.

The synthetic cache has the tiny profile's shapes: 768-channel codec latents of 128x160 frames stored
as the codec stores them (uint8, time-major), 4-latent windows, Whisper-tiny audio, MiniLM text, pose.
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
from omnihuman_pipeline.models import OmniHumanTransformer
from omnihuman_pipeline.training.config import StageSettings, TrainSettings
from omnihuman_pipeline.training.data import OmniDataModule, expand_batch, seeded_noise
from omnihuman_pipeline.training.module import OmniHumanModule
from omnihuman_pipeline.training.run import model_config, train_stage

RESULTS = Path(__file__).parent / "results" / "train_speed.json"
CONDITIONS = ["text", "audio", "pose"]
KINDS = ("lightning", "bare", "bare_noise")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per run")
    parser.add_argument("--warmup", type=int, default=5, help="steps left out of the timing")
    parser.add_argument("--repeat", type=int, default=3, help="Lightning runs, each with its paired bare steps")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--latent", default="16x20", help="latent h x w (128x160 px frames)")
    parser.add_argument("--window", type=int, default=4, help="noisy latent frames per sample")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--config", default="tiny", help="model preset")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args()


def settings(args: argparse.Namespace) -> tuple[dict, dict]:
    train = {"model": {"preset": args.config},
             "data": {"window_latent_frames": args.window, "batch_size": args.batch, "num_workers": args.workers,
                      "val_fraction": 0.0, "val_min_videos": 0},
             "optimizer": {"lr": 1e-3, "warmup_steps": 10, "global_batch_size": args.batch},
             "ema": {"decay": 0.99}, "flow": {"shift": 1.0},
             "trainer": {"accelerator": "auto", "val_every_n_steps": 0, "checkpoint_every_n_steps": 20,
                         "log_every_n_steps": 5, "progress_bar": False}}
    return train, {"index": 3, "conditions": CONDITIONS, "max_steps": args.steps}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class BareSteps:
    """A twin network stepped on the stage's batches already collated and expanded in memory."""

    def __init__(self, cache, train: dict, stage: dict, steps: int):
        index, store = cache
        ts, spec = TrainSettings.from_params(train), StageSettings.from_params("bench", stage)
        dm = OmniDataModule(index, store, conditions=spec.conditions, ratios=ts.ratios, t_only_fraction=1.0,
                            data=ts.data, flow=asdict(ts.flow), with_audio=True, with_pose=True,
                            total_micro_batches=steps)
        dm.setup("fit")
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        compact = list(dm.train_dataloader())
        self.seeds = [b["noise_seed"].tolist() for b in compact]
        self.batches = [expand_batch({k: v.to(self.device) if isinstance(v, torch.Tensor) else v
                                      for k, v in b.items()}) for b in compact]
        torch.manual_seed(0)
        self.net = OmniHumanTransformer(model_config(index, ts, spec)).to(self.device)
        self.module = OmniHumanModule(self.net, partial(torch.optim.AdamW, lr=1e-3))
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=1e-3, weight_decay=0.01)
        self.grad_clip = ts.optimizer.grad_clip

    def step(self, i: int, noise_in_step: bool) -> float:
        """Seconds of one bare step on batch ``i`` (drawing its noise first with ``noise_in_step``)."""
        batch, seeds = self.batches[i % len(self.batches)], self.seeds[i % len(self.batches)]
        _sync(self.device)
        start = time.perf_counter()
        with torch.enable_grad():
            if noise_in_step:
                batch = {**batch, "noise": seeded_noise(batch["latents"].shape, seeds, self.device)}
            loss = self.module.model_step(batch).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.grad_clip)
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
        _sync(self.device)
        return time.perf_counter() - start


class PairedTimer(L.Callback):
    """Times every Lightning step (batch end to batch end, less the bare steps) and runs its bare steps."""

    def __init__(self, bare: BareSteps) -> None:
        self.bare = bare
        self.times: dict[str, list[float]] = {k: [] for k in KINDS}
        self._last: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self._last is None:
            self._last = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        _sync(self.bare.device)
        self.times["lightning"].append(time.perf_counter() - self._last)
        i = len(self.times["lightning"]) - 1
        for noise_in_step in ((False, True) if i % 2 == 0 else (True, False)):
            self.times["bare_noise" if noise_in_step else "bare"].append(self.bare.step(i, noise_in_step))
        self._last = time.perf_counter()


def paired_run(cache, root: Path, train: dict, stage: dict, bare: BareSteps) -> dict[str, list[float]]:
    timer = PairedTimer(bare)
    run = RunFolder(root / "run", root / "logs")
    run.path.mkdir(parents=True, exist_ok=True)
    train_stage(*cache, run, None, {**train, "overwrite": True}, stage, name="bench", callbacks=[timer])
    return timer.times


def summarise(runs: list[dict[str, list[float]]], warmup: int) -> dict:
    """Per-step ratios (median, quartiles) and the medians of each kind, over every run's steps after warm-up."""
    steps = {k: [t for r in runs for t in r[k][warmup:]] for k in KINDS}
    out: dict = {f"{k}_step_s": round(statistics.median(v), 5) for k, v in steps.items()}
    means = {k: statistics.fmean(v) for k, v in steps.items()}  # checkpoint and logging steps included
    out["lightning_mean_step_s"] = round(means["lightning"], 5)
    for base in ("bare", "bare_noise"):
        ratios = [a / b for a, b in zip(steps["lightning"], steps[base], strict=True)]
        q1, q2, q3 = statistics.quantiles(ratios, n=4)
        out[f"ratio_lightning_to_{base}"] = round(q2, 3)
        out[f"ratio_lightning_to_{base}_quartiles"] = [round(q1, 3), round(q3, 3)]
        out[f"ratio_of_medians_lightning_to_{base}"] = round(
            statistics.median(steps["lightning"]) / statistics.median(steps[base]), 3)
        out[f"ratio_of_means_lightning_to_{base}"] = round(means["lightning"] / means[base], 3)
    out["per_run_median_s"] = [{k: round(statistics.median(r[k][warmup:]), 5) for k in KINDS} for r in runs]
    return out


def main() -> None:
    args = parse_args()
    h, w = (int(v) for v in args.latent.split("x"))
    train, stage = settings(args)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        specs = [ClipSpec(f"v{i}", A=i % 2 == 0, P=True, n_frames=49, size=(h, w)) for i in range(args.clips)]
        cache = make_cache(root / "features", specs, channels=768, text_len=32, text_dim=384, audio_layers=5,
                           audio_dim=384, clips_per_shard=2, marked=False, quantized=True)
        bare = BareSteps(cache, train, stage, args.steps)
        runs = [paired_run(cache, root, train, stage, bare) for _ in range(args.repeat)]
    result = {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(), "config": args.config, "latent": [args.window, h, w],
        "batch": args.batch, "workers": args.workers, "steps": args.steps, "warmup": args.warmup,
        "repeat": args.repeat, **summarise(runs, args.warmup),
        "gpu": "measured by benchmarks/model_speed.py" if torch.cuda.is_available() else "no GPU on this machine",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    r = result
    print(f"train step (medians): lightning {r['lightning_step_s'] * 1e3:.1f} ms, bare {r['bare_step_s'] * 1e3:.1f} ms, "
          f"bare + noise {r['bare_noise_step_s'] * 1e3:.1f} ms; per-step ratio lightning/bare "
          f"{r['ratio_lightning_to_bare']:.3f} (quartiles {r['ratio_lightning_to_bare_quartiles'][0]:.3f}-"
          f"{r['ratio_lightning_to_bare_quartiles'][1]:.3f}; target <= 1.15), lightning/(bare + noise) "
          f"{r['ratio_lightning_to_bare_noise']:.3f}; ratio of mean step times (checkpoint steps included) "
          f"{r['ratio_of_means_lightning_to_bare']:.3f} and {r['ratio_of_means_lightning_to_bare_noise']:.3f}; "
          f"{r['device']}, batch {args.batch}, workers {args.workers}")


if __name__ == "__main__":
    main()
