"""Training throughput of the OmniHuman MMDiT: SDPA vs the reference math attention, in one run.

Measures forward + backward (no optimizer step) of one model with every condition on (reference,
motion frames, text, audio, pose) with ``backend="sdpa"`` and ``backend="math"`` (timed steps
interleaved, median reported), and prints tokens/s, the ratio sdpa/math and the model FLOPs
utilisation (MFU).

Defaults (``--config base``): 480x832 px video -> 60x104 latent -> 30x52 = 1560 tokens per latent frame;
5 noisy latent frames (17 px frames) + 1 reference + 2 motion latent frames = 12,480 video tokens,
plus 128 text tokens, batch 1, bf16 autocast, gradient checkpointing on. Estimated peak memory on an
80 GB GPU: ~10 GB for SDPA; ~35-45 GB for math, dominated by one layer's [16, N, N] fp32 softmax
during the recomputation (without checkpointing math needs every layer's scores at once and runs out of
memory, and at the full 21-latent-frame / 81 px-frame clip even one layer's scores exceed 80 GB, so use
``--latent 21x60x104 --backends sdpa`` for that). A backend that runs out of memory is recorded as
``"oom"`` instead of aborting the run.

FLOPs (model FLOPs, per training step, recomputation not counted):

* dense: 6 * sum over parameter groups of (params * tokens that pass through them): video-stream block
  weights, the patch embedding and the audio queries/outputs see the video tokens (the output layer
  and audio queries only the noisy ones), text-stream weights the text tokens, audio keys/values the
  audio tokens; adaLN and timestep weights run once per sample and the pose guider's convolutions are
  left out (both < 1 % at the default size). This is the usual 6 * params * tokens with each token
  charged only for the weights it uses.
* attention: 12 * Nq * Nk * D per layer (2 matmuls of 2 * Nq * Nk * D forward, twice that backward),
  i.e. 12 * L * N^2 * D for the joint attention (the last block has only video queries), plus the
  frame-wise audio cross-attention 12 * N_noisy * K * D per layer.

MFU = FLOPs / step time / peak, with peak = 989 TFLOP/s for H100/H200 bf16 dense (``--peak-tflops``
overrides it); n/a on CPU.

Usage::

    python benchmarks/model_speed.py                                 # base, GPU
    python benchmarks/model_speed.py --config tiny --latent 3x8x8    # CPU smoke test
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from omnihuman_pipeline.models import (
    ATTENTION_BACKENDS,
    OmniHumanConfig,
    OmniHumanTransformer,
    num_pixel_frames,
)

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense, no sparsity
RESULTS = Path(__file__).parent / "results" / "model_speed.json"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="base", help="model preset: tiny | base | paper")
    parser.add_argument(
        "--latent", default="5x60x104", help="noisy latent T x H x W (latent frames, 8x-down H, W)"
    )
    parser.add_argument("--motion", type=int, default=2, help="motion latent frames (5 px frames -> 2)")
    parser.add_argument("--text-len", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per backend")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--backends", default="sdpa,math")
    parser.add_argument("--no-grad-ckpt", action="store_true", help="disable gradient checkpointing")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the device's bf16 peak")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args()


def make_inputs(
    cfg: OmniHumanConfig, args: argparse.Namespace, device: torch.device
) -> dict[str, torch.Tensor]:
    """Random inputs with every condition on (no text padding, so SDPA may use its fastest kernel)."""
    t, h, w = (int(v) for v in args.latent.lower().split("x"))
    b, c, f = args.batch, cfg.in_channels, num_pixel_frames(t)
    s = cfg.vae_spatial_factor
    inputs = {
        "noisy_latents": torch.randn(b, c, t, h, w),
        "timestep": torch.rand(b),
        "text_emb": torch.randn(b, args.text_len, cfg.text_dim),
        "ref_latents": torch.randn(b, c, 1, h, w),
        "motion_latents": torch.randn(b, c, args.motion, h, w) if args.motion else None,
        "audio_feats": torch.randn(b, f, cfg.audio_layers, cfg.audio_dim),
        "pose_maps": torch.rand(b, 3, f, s * h, s * w) * 2 - 1,
    }
    return {k: (v.to(device) if v is not None else None) for k, v in inputs.items()}


def step_flops(
    model: OmniHumanTransformer, inputs: dict[str, torch.Tensor], text_len: int
) -> dict[str, float]:
    """Analytic model FLOPs of one forward + backward (see the module docstring)."""
    cfg = model.config
    x = inputs["noisy_latents"]
    n_motion = 0 if inputs["motion_latents"] is None else inputs["motion_latents"].shape[2]
    layout = model.token_layout(x.shape, has_ref=True, num_motion_latent=n_motion)
    n_video, n_noisy, n_text = layout.n_video, layout.n_noisy, text_len
    k_audio = cfg.vae_temporal_factor * (2 * cfg.audio_window + 1) * cfg.patch_size[0]
    n_audio_tokens = layout.n_noisy_frames * k_audio
    n_audio_frames = inputs["audio_feats"].shape[1]

    def tokens_for(name: str) -> int:
        if "adaln" in name or name.startswith("time_embed") or name.startswith("pose_guider"):
            return 0  # once per sample / conv guider: negligible
        if name.startswith("audio_adapter"):
            return n_audio_frames
        if ".audio_attn.to_k" in name or ".audio_attn.to_v" in name or ".audio_attn.norm_k" in name:
            return n_audio_tokens
        if ".audio_attn." in name or name.startswith("final_layer"):
            return n_noisy
        if (
            "_context" in name
            or ".add_" in name
            or "norm_added" in name
            or name.startswith("context_embedder")
        ):
            return n_text
        return n_video

    dense = 6.0 * sum(p.numel() * tokens_for(n) for n, p in model.named_parameters() if p.dim() > 1)
    d, n_all = cfg.hidden_size, n_video + n_text
    joint = 12.0 * d * n_all * (n_all * (cfg.num_layers - 1) + n_video)  # last block: video queries only
    audio = 12.0 * d * n_noisy * k_audio * cfg.num_layers
    b = x.shape[0]
    return {
        "dense": b * dense,
        "attention": b * (joint + audio),
        "total": b * (dense + joint + audio),
        "tokens": b * n_all,
        "noisy_tokens": b * n_noisy,
    }


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_step(model: OmniHumanTransformer, inputs: dict, backend: str) -> float:
    """Seconds of one forward + backward with ``backend`` (bf16 autocast on GPU, fp32 on CPU)."""
    device = inputs["noisy_latents"].device
    model.set_attention_backend(backend)
    sync(device)
    start = time.perf_counter()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        loss = model(**inputs).float().square().mean()
    loss.backward()
    model.zero_grad(set_to_none=True)
    sync(device)
    return time.perf_counter() - start


def time_backends(
    model: OmniHumanTransformer, inputs: dict, backends: list[str], args: argparse.Namespace
) -> dict[str, dict]:
    """Median seconds per step of each backend, and peak GPU memory; ``{"status": "oom"}`` if it does not fit."""
    device = inputs["noisy_latents"].device
    results: dict[str, dict] = {}
    # 1. warm-up and peak memory, one backend at a time
    for backend in backends:
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        try:
            for _ in range(args.warmup):
                train_step(model, inputs, backend)
        except torch.OutOfMemoryError:
            model.zero_grad(set_to_none=True)
            results[backend] = {"status": "oom"}
            continue
        results[backend] = {"status": "ok", "times": []}
        if device.type == "cuda":
            results[backend]["peak_mem_gb"] = torch.cuda.max_memory_allocated(device) / 1e9
    # 2. timed rounds with the backends interleaved, so load drift (shared CPUs, GPU clocks) hits both alike
    running = [b for b in backends if results[b]["status"] == "ok"]
    for _ in range(args.steps):
        for backend in running:
            results[backend]["times"].append(train_step(model, inputs, backend))
    for backend in running:
        times = sorted(results[backend].pop("times"))
        results[backend]["step_s"] = times[len(times) // 2]
    return results


def peak_flops(device: torch.device, override: float | None) -> float | None:
    """bf16 dense peak FLOP/s of the device, None on CPU or an unknown GPU."""
    if override is not None:
        return override * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((tf * 1e12 for key, tf in PEAK_BF16_TFLOPS.items() if key in name), None)


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - set(ATTENTION_BACKENDS):
        raise SystemExit(f"unknown backends {sorted(unknown)}; choose from {ATTENTION_BACKENDS}")
    torch.manual_seed(0)
    cfg = OmniHumanConfig.from_preset(args.config)
    model = OmniHumanTransformer(cfg).to(device).train()
    model.enable_gradient_checkpointing(not args.no_grad_ckpt)
    inputs = make_inputs(cfg, args, device)
    flops = step_flops(model, inputs, args.text_len)
    peak = peak_flops(device, args.peak_tflops)

    results = time_backends(model, inputs, backends, args)
    for backend, r in results.items():
        if r["status"] == "ok":
            r["tokens_per_s"] = flops["tokens"] / r["step_s"]
            r["noisy_tokens_per_s"] = flops["noisy_tokens"] / r["step_s"]
            r["tflops_per_s"] = flops["total"] / r["step_s"] / 1e12
            r["mfu"] = flops["total"] / r["step_s"] / peak if peak else None
        mfu = f"{r['mfu']:.1%}" if r.get("mfu") is not None else "n/a"
        line = (
            f"{backend:>5}: {r['step_s'] * 1e3:9.1f} ms/step  {r['tokens_per_s']:12,.0f} tokens/s  "
            f"{r['tflops_per_s']:9.4g} TFLOP/s  MFU {mfu}"
            if r["status"] == "ok"
            else f"{backend:>5}: out of memory"
        )
        if "peak_mem_gb" in r:
            line += f"  peak {r['peak_mem_gb']:.1f} GB"
        print(line, flush=True)

    ratio = None
    if all(results.get(b, {}).get("status") == "ok" for b in ("sdpa", "math")):
        ratio = results["sdpa"]["tokens_per_s"] / results["math"]["tokens_per_s"]
        print(f"ratio sdpa/math tokens/s: {ratio:.2f}x")
    n_params = sum(p.numel() for p in model.parameters())
    report = {
        "config": args.config,
        "params": n_params,
        "latent_thw": args.latent,
        "motion_latent_frames": args.motion,
        "text_len": args.text_len,
        "batch": args.batch,
        "grad_checkpointing": not args.no_grad_ckpt,
        "dtype": "bf16-autocast" if device.type == "cuda" else "fp32",
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "flops_per_step": flops,
        "peak_flops": peak,
        "results": results,
        "ratio_sdpa_over_math": ratio,
    }
    print(
        f"{args.config}: {n_params / 1e6:,.2f} M params, {flops['tokens']:,} tokens/step "
        f"({flops['noisy_tokens']:,} noisy), {flops['total'] / 1e12:.4g} TFLOP/step "
        f"(attention {flops['attention'] / max(flops['total'], 1):.0%})"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
