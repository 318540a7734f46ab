"""Generation speed: wall seconds per second of video, forward passes per step, batched vs sequential CFG.

Measured in one run on a tiny model folder built here (random weights, the ``tiny`` profile's feature
settings from ``conf/tiny/parameters_features.yml`` and sampling steps from
``conf/tiny/parameters_generate.yml``), a synthetic talking-face reference and its speech:

1. ``wall_s_per_video_s``: ``generate_video`` end to end (read, caption given, encode, sample every
   segment, decode, mux) for ``--seconds`` of video, divided by those seconds; the checkpoint and
   encoders are loaded once beforehand (``load_s``) as ``run_jobs`` does, and the job is run
   ``--repeat`` times (median). The sampling share is reported separately.
2. ``passes_per_step``: per CFG form (joint, separate, joint + speaker mask, scale 1), the model
   calls per Euler step (1: the branches are batched) and the branch passes they hold (2, 3, 3, 1).
3. ``batched_speedup``: one guided velocity of a segment (``GuidedDenoiser``) with the branches
   stacked on the batch dimension vs one forward per branch, timed interleaved (median of
   ``--rounds``), for the joint (2 branches) and separate (3 branches) forms. The GPU target is
   >= 1.6x; on CPU the gain is smaller because a forward is compute-bound already at batch 1.

4. ``memory`` (``--memory 10,60,600``): peak RSS and wall time of one ``generate_video`` job per drive length,
   each in a fresh process (the tiny profile's model and settings, the talking face's speech repeated to the
   length), and the ratio of the longest drive's peak RSS to the shortest's: segments stream to the encoder and
   Whisper windows are encoded as sampling reaches them, so it should stay near 1.

Usage::

    python benchmarks/generate_speed.py                      # tiny profile on CPU
    python benchmarks/generate_speed.py --memory 10,60,600 --skip-video   # peak RSS vs drive length
    python benchmarks/generate_speed.py --latent 21x60x104 --config base --device cuda --skip-video
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "generate_speed.json"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="tiny", help="model preset for the CFG timing: tiny | base")
    parser.add_argument("--latent", default=None,
                        help="segment latent T x H x W for the CFG timing (default: the tiny profile's 25-frame "
                             "segment at its bucket, 7 x 16 x 16)")
    parser.add_argument("--seconds", type=float, default=4.0, help="video length of the end-to-end job")
    parser.add_argument("--repeat", type=int, default=3, help="end-to-end runs (median)")
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds of batched vs sequential CFG")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--skip-video", action="store_true", help="only the CFG timings")
    parser.add_argument("--memory", default=None, help="drive lengths in s for the peak-RSS runs, e.g. 10,60,600")
    parser.add_argument("--rss-job", nargs=4, default=None, metavar=("MODEL", "IMAGE", "WAV", "OUT"),
                        help=argparse.SUPPRESS)  # one job in this process: what --memory starts per length
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args()


def tiny_profile() -> tuple[dict, dict]:
    """The tiny profile's ``features`` and ``generate`` parameter groups."""
    from kedro.config import OmegaConfigLoader

    from omnihuman_pipeline.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(str(REPO / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": "tiny"})
    params = loader["parameters"]
    return dict(params["features"]), dict(params["generate"])


def random_model(config, seed: int = 0):
    """A network with every parameter random (zero-initialised outputs too, as a trained model's are not zero)."""
    from omnihuman_pipeline.models import OmniHumanTransformer

    torch.manual_seed(seed)
    model = OmniHumanTransformer(config).eval()
    with torch.no_grad():
        for param in model.parameters():
            if torch.count_nonzero(param) == 0:
                param.normal_(0, 0.02)
    return model


def write_inputs(folder: Path, seconds: float) -> tuple[Path, Path]:
    """A synthetic talking face (first frame as PNG) and its speech (16 kHz WAV)."""
    import av

    from omnihuman_pipeline.corpus.talking import talking_clip

    clip = talking_clip(seed=0, duration_s=seconds)
    image, audio = folder / "ref.png", folder / "speech.wav"
    with av.open(str(image), "w") as c:
        s = c.add_stream("png")
        s.width, s.height, s.pix_fmt = clip.frames.shape[2], clip.frames.shape[1], "rgb24"
        for p in [*s.encode(av.VideoFrame.from_ndarray(clip.frames[0], format="rgb24")), *s.encode()]:
            c.mux(p)
    with av.open(str(audio), "w") as c:
        s = c.add_stream("pcm_s16le", rate=16_000, layout="mono")
        frame = av.AudioFrame.from_ndarray((np.clip(clip.audio, -1, 1) * 32767).astype(np.int16)[None],
                                           format="s16", layout="mono")
        frame.sample_rate = 16_000
        for p in [*s.encode(frame), *s.encode()]:
            c.mux(p)
    return image, audio


def end_to_end(args: argparse.Namespace, features: dict, generate: dict, folder: Path) -> dict:
    """Wall seconds per video second of the tiny profile (checkpoint loaded once, median of ``--repeat``)."""
    from omnihuman_pipeline.inference import GenerateSettings, GenerationJob, generate_video, load_checkpoint
    from omnihuman_pipeline.inference import run as run_module
    from omnihuman_pipeline.models import ModelCard, OmniHumanConfig, save_model_folder

    config = OmniHumanConfig.from_preset("tiny", in_channels=768, text_dim=384, audio_layers=5, audio_dim=384)
    card = ModelCard(config, 3, ("text", "image", "audio", "pose"), features=features,
                     feature_backends={"video": "patchify", "audio": "whisper", "text": "minilm", "pose": "keypoints"},
                     flow={"shift": 3.0})
    save_model_folder(folder / "stage3", random_model(config), card)
    image, audio = write_inputs(folder, args.seconds)
    settings = GenerateSettings.from_params({**generate, "device": args.device, "progress": False})
    start = time.perf_counter()
    checkpoint = load_checkpoint(folder / "stage3", settings)
    load_s = time.perf_counter() - start
    job = GenerationJob("bench", str(image), str(folder / "out.mp4"), str(folder / "stage3"), audio=str(audio),
                        text="A close-up shot of one person speaking.", seconds=args.seconds)
    sampling: list[float] = []
    original = run_module.sample_segments

    def timed_sampling(*a, **k):
        t0 = time.perf_counter()
        out = original(*a, **k)
        sampling.append(time.perf_counter() - t0)
        return out

    run_module.sample_segments = timed_sampling
    try:
        generate_video(job, settings, None, checkpoint)  # warm-up (kernels, caches)
        sampling.clear()
        walls, rows = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            rows.append(generate_video(job, settings, None, checkpoint))
            walls.append(time.perf_counter() - t0)
    finally:
        run_module.sample_segments = original
    row, wall, sample = rows[-1], statistics.median(walls), statistics.median(sampling)
    return {
        "seconds": row["seconds"], "frames": row["frames"], "segments": row["segments"],
        "segment_latents": row["segment_latents"], "size": [row["width"], row["height"]], "steps": row["steps"],
        "cfg_form": row["cfg_form"], "branches": row["branches"], "load_s": round(load_s, 3),
        "wall_s": round(wall, 3), "walls_s": [round(w, 3) for w in walls], "sampling_s": round(sample, 3),
        "wall_s_per_video_s": round(wall / row["seconds"], 3),
        "sampling_s_per_video_s": round(sample / row["seconds"], 3),
        "sampling_share": round(sample / wall, 3),
    }


def rss_job(model: str, image: str, wav: str, out: str) -> None:
    """One job in this process; print its wall time and peak RSS as JSON (a child of :func:`memory_runs`)."""
    import resource

    from omnihuman_pipeline.inference import GenerateSettings, GenerationJob, generate_video

    _, generate = tiny_profile()
    settings = GenerateSettings.from_params({**generate, "progress": False})
    t0 = time.perf_counter()
    row = generate_video(GenerationJob("long", image, out, model, audio=wav, text="A close-up shot of one person "
                                       "speaking."), settings)
    print(json.dumps({"wall_s": round(time.perf_counter() - t0, 2), "frames": row["frames"],
                      "segments": row["segments"],
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


def memory_runs(lengths: list[float], features: dict, folder: Path) -> dict:
    """Peak RSS and wall time per drive length, each job in a fresh process; ratio longest / shortest."""
    import subprocess
    import sys

    from scipy.io import wavfile

    from omnihuman_pipeline.models import ModelCard, OmniHumanConfig, save_model_folder

    config = OmniHumanConfig.from_preset("tiny", in_channels=768, text_dim=384, audio_layers=5, audio_dim=384)
    card = ModelCard(config, 2, ("text", "image", "audio"), features=features, flow={"shift": 3.0},
                     feature_backends={"video": "patchify", "audio": "whisper", "text": "minilm", "pose": "keypoints"})
    save_model_folder(folder / "stage2", random_model(config), card)
    image, speech = write_inputs(folder, 4.0)
    sr, samples = wavfile.read(speech)
    runs = {}
    for seconds in lengths:
        wav = folder / f"drive_{seconds:g}.wav"
        wavfile.write(wav, sr, np.resize(samples, int(seconds * sr)))
        out = subprocess.run([sys.executable, __file__, "--rss-job", str(folder / "stage2"), str(image), str(wav),
                              str(folder / "out.mp4")], capture_output=True, text=True, check=True)
        runs[f"{seconds:g}"] = json.loads(out.stdout.strip().splitlines()[-1])
    first, last = runs[f"{min(lengths):g}"], runs[f"{max(lengths):g}"]
    return {"runs": runs, "peak_rss_ratio": round(last["peak_rss_mb"] / first["peak_rss_mb"], 3),
            "wall_ratio_per_second": round(last["wall_s"] / max(lengths) / (first["wall_s"] / min(lengths)), 3)}


def segment_inputs(config, latent: tuple[int, int, int], device: torch.device, seed: int = 0):
    """Batch-1 segment conditions (every condition on) and noisy latents of shape ``latent``."""
    from omnihuman_pipeline.inference import SegmentConditions
    from omnihuman_pipeline.models import num_pixel_frames

    t, h, w = latent
    f, s, c = num_pixel_frames(t), config.vae_spatial_factor, config.in_channels
    gen = torch.Generator().manual_seed(seed)
    cond = SegmentConditions(
        text_emb=torch.randn(1, 32, config.text_dim, generator=gen), text_mask=torch.ones(1, 32, dtype=torch.bool),
        ref_latents=torch.randn(1, c, 1, h, w, generator=gen),
        motion_latents=torch.randn(1, c, 2, h, w, generator=gen),
        audio_feats=torch.randn(1, f, config.audio_layers, config.audio_dim, generator=gen),
        pose_maps=torch.rand(1, 3, f, s * h, s * w, generator=gen) * 2 - 1)
    cond = SegmentConditions(**{k: None if v is None else v.to(device) for k, v in vars(cond).items()})
    return cond, torch.randn(1, c, t, h, w, generator=gen).to(device)


class Counter(torch.nn.Module):
    """Counts forward calls and the samples (branch passes) they carry."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls, self.samples = model, 0, 0

    def forward(self, **kwargs):
        self.calls += 1
        self.samples += kwargs["noisy_latents"].shape[0]
        return self.model(**kwargs)


def passes_per_step(model, cond, x) -> dict:
    """Model calls and branch passes per Euler step of each CFG form."""
    from omnihuman_pipeline.inference import Guidance, GuidedDenoiser, flow_sigmas, sample_flow

    h, w = x.shape[-2:]
    mask = torch.zeros(h, w, device=x.device)
    mask[:, : w // 2] = 1
    forms = {"joint": (Guidance(), None), "separate": (Guidance("separate", 6.5, 3.0, 6.5), None),
             "joint+speaker_mask": (Guidance(), mask), "scale_1": (Guidance(scale=1.0), None)}
    out, steps = {}, 3
    for name, (guidance, m) in forms.items():
        counter = Counter(model)
        denoiser = GuidedDenoiser(counter, cond, guidance, mask=m)
        sample_flow(denoiser, x, flow_sigmas(steps))
        out[name] = {"forward_calls": counter.calls / steps, "branch_passes": counter.samples / steps,
                     "branches": list(denoiser.branches)}
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def batched_speedup(model, cond, x, rounds: int) -> dict:
    """Median seconds of one guided velocity, batched vs sequential branches, interleaved rounds."""
    from omnihuman_pipeline.inference import Guidance, GuidedDenoiser

    out = {}
    for name, guidance in {"joint": Guidance(), "separate": Guidance("separate", 6.5, 3.0, 6.5)}.items():
        runs = {mode: GuidedDenoiser(model, cond, guidance, batched=mode == "batched")
                for mode in ("batched", "sequential")}
        times: dict[str, list[float]] = {"batched": [], "sequential": []}
        with torch.no_grad():
            for denoiser in runs.values():
                denoiser(x, 0.5)  # warm-up
            for _ in range(rounds):
                for mode, denoiser in runs.items():
                    sync(x.device)
                    t0 = time.perf_counter()
                    denoiser(x, 0.5)
                    sync(x.device)
                    times[mode].append(time.perf_counter() - t0)
        b, s = statistics.median(times["batched"]), statistics.median(times["sequential"])
        out[name] = {"branches": len(runs["batched"].branches), "batched_ms": round(1e3 * b, 3),
                     "sequential_ms": round(1e3 * s, 3), "speedup": round(s / b, 3)}
    return out


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.rss_job:
        rss_job(*args.rss_job)
        return
    features, generate = tiny_profile()
    from omnihuman_pipeline.features.clip_media import bucket_size
    from omnihuman_pipeline.models import OmniHumanConfig

    device = torch.device(args.device)
    result: dict = {"device": args.device, "platform": platform.processor() or platform.machine(),
                    "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                    "load_avg_before": [round(v, 2) for v in os.getloadavg()]}
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(device)
    if not args.skip_video:
        with tempfile.TemporaryDirectory() as tmp:
            result["video"] = end_to_end(args, features, generate, Path(tmp))
    if args.memory:
        with tempfile.TemporaryDirectory() as tmp:
            result["memory"] = memory_runs([float(v) for v in args.memory.split(",")], features, Path(tmp))
        m = result["memory"]
        for seconds, run in m["runs"].items():
            print(f"drive {seconds} s: peak RSS {run['peak_rss_mb']:.0f} MB, {run['wall_s']:.1f} s wall "
                  f"({run['segments']} segments, {run['frames']} frames)")
        print(f"peak RSS {max(m['runs'], key=float)} s / {min(m['runs'], key=float)} s: {m['peak_rss_ratio']:.2f}; "
              f"wall per drive second, longest / shortest: {m['wall_ratio_per_second']:.2f}")
    overrides = {"in_channels": 768, "text_dim": 384, "audio_layers": 5, "audio_dim": 384}
    config = OmniHumanConfig.from_preset(args.config, **(overrides if args.config == "tiny" else {}))
    if args.latent:
        latent = tuple(int(v) for v in args.latent.lower().split("x"))
    else:
        w, h = bucket_size(256, 256, int(features["video"]["short_side"]), int(features["video"].get("multiple", 16)))
        latent = (7, h // 8, w // 8)
    model = random_model(config).to(device)
    cond, x = segment_inputs(config, latent, device)
    result["cfg_latent"] = list(latent)
    result["cfg_config"] = args.config
    result["passes_per_step"] = passes_per_step(model, cond, x)
    result["batched_speedup"] = batched_speedup(model, cond, x, args.rounds)
    result["load_avg_after"] = [round(v, 2) for v in os.getloadavg()]

    if "video" in result:
        v = result["video"]
        print(f"wall s per video s: {v['wall_s_per_video_s']:.3f} ({v['wall_s']:.2f} s for {v['seconds']:.1f} s, "
              f"{v['frames']} frames, {v['segments']} segments x {v['steps']} steps, {v['size'][0]}x{v['size'][1]}; "
              f"sampling {v['sampling_share']:.0%}; load once {v['load_s']:.2f} s) on {args.device}")
    for name, p in result["passes_per_step"].items():
        print(f"passes per step [{name}]: {p['forward_calls']:.0f} forward call(s), {p['branch_passes']:.0f} branch "
              f"passes ({', '.join(p['branches'])})")
    for name, s in result["batched_speedup"].items():
        print(f"batched/sequential CFG [{name}, {s['branches']} branches, latent {'x'.join(map(str, latent))}]: "
              f"{s['speedup']:.2f}x ({s['sequential_ms']:.2f} -> {s['batched_ms']:.2f} ms) on {args.device}"
              + ("" if device.type == "cuda" else "; the >= 1.6x target is for GPU"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
