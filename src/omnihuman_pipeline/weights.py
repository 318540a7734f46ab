"""Resolve the weights of every learned component from `conf/local/weights.yml` or the environment.

No code in this project downloads weights. A component that needs a file asks `resolve(key)`; the
path comes from the environment variable `OMNIHUMAN_WEIGHTS_<KEY>` (upper case) or from the key in
`conf/local/weights.yml` (or `$OMNIHUMAN_WEIGHTS_FILE`). When neither names an existing file, the
error says which file is missing, which setting to fill and where the file is published.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class WeightSpec:
    """Where a component's official weights come from."""

    key: str
    filename: str
    published_at: str


KNOWN_WEIGHTS: dict[str, WeightSpec] = {
    spec.key: spec
    for spec in [
        WeightSpec("laion_aesthetic", "sac+logos+ava1-l14-linearMSE.pth",
                   "github.com/christophschuhmann/improved-aesthetic-predictor"),
        WeightSpec("clip_vit_l14", "ViT-L-14 (open_clip / transformers CLIPVisionModelWithProjection folder)",
                   "huggingface.co/openai/clip-vit-large-patch14"),
        WeightSpec("syncnet", "syncnet_v2.model", "github.com/joonson/syncnet_python (download_model.sh)"),
        WeightSpec("whisper", "a Whisper checkpoint (.pt) for openai-whisper", "github.com/openai/whisper"),
        WeightSpec("dwpose_det", "yolox_l.onnx", "huggingface.co/yzd-v/DWPose"),
        WeightSpec("dwpose_pose", "dw-ll_ucoco_384.onnx", "huggingface.co/yzd-v/DWPose"),
        WeightSpec("wav2vec2", "a wav2vec2 folder for transformers", "huggingface.co/facebook/wav2vec2-base-960h"),
        WeightSpec("vae", "a diffusers causal video VAE folder", "huggingface.co/Wan-AI/Wan2.1-T2V-1.3B-Diffusers"),
        WeightSpec("text_encoder", "a T5/CLIP text encoder folder for transformers", "huggingface.co/google/umt5-xxl"),
        WeightSpec("inception_fid", "pt_inception-2015-12-05-6726825d.pth",
                   "github.com/mseitzer/pytorch-fid/releases (tag fid_weights; torch-fidelity's "
                   "weights-inception-2015-12-05-6726825d.pth has the same key layout)"),
        WeightSpec("i3d_fvd", "i3d_torchscript.pt",
                   "github.com/universome/stylegan-v (the Dropbox link in src/metrics/frechet_video_distance.py)"),
        WeightSpec("qalign", "a q-align checkpoint folder", "huggingface.co/q-future/one-align"),
        WeightSpec("captioner", "a vision-language captioning model folder for transformers",
                   "huggingface.co (e.g. a LLaVA/Qwen-VL checkpoint)"),
        WeightSpec("mmdit_t2v", "a pretrained text-to-video MMDiT state dict", "your text-to-video checkpoint"),
    ]
}


class WeightsNotFoundError(FileNotFoundError):
    """A real backend was requested but its weights file is not on this machine."""


def _weights_file() -> Path:
    return Path(os.environ.get("OMNIHUMAN_WEIGHTS_FILE", "conf/local/weights.yml"))


def configured_paths() -> dict[str, str]:
    """Weight paths named in `conf/local/weights.yml`, `{}` when the file does not exist."""
    path = _weights_file()
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    return {str(k): str(v) for k, v in (data.get("weights", data) or {}).items()}


def resolve(key: str, explicit: str | os.PathLike | None = None) -> Path:
    """Path of the weights for `key`.

    Args:
        key: a component key, e.g. "laion_aesthetic" (see `KNOWN_WEIGHTS`).
        explicit: a path given directly (a parameter); wins over the environment and the file.

    Returns:
        An existing file or folder.

    Raises:
        WeightsNotFoundError: naming the file, the setting to fill and where the file is published.
    """
    env_name = f"OMNIHUMAN_WEIGHTS_{key.upper()}"
    candidate = explicit or os.environ.get(env_name) or configured_paths().get(key)
    if candidate and Path(candidate).expanduser().exists():
        return Path(candidate).expanduser()
    spec = KNOWN_WEIGHTS.get(key, WeightSpec(key, key, "its publisher"))
    where = f"'{candidate}' does not exist" if candidate else "no path is configured"
    raise WeightsNotFoundError(
        f"Weights for '{key}' not found ({where}). Put {spec.filename} on this machine and set "
        f"{env_name}=/path/to/it or '{key}: /path/to/it' in {_weights_file()}. Published at: {spec.published_at}."
    )
