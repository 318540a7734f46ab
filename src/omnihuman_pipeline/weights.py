"""Resolve the weights of every learned component from `conf/local/weights.yml` or the environment, and verify them.

No code in this project downloads weights. A component that needs a file asks `resolve(key)`; the
path comes from the environment variable `OMNIHUMAN_WEIGHTS_<KEY>` (upper case) or from the key in
`conf/local/weights.yml` (or `$OMNIHUMAN_WEIGHTS_FILE`). When neither names an existing file, the
error says which file is missing, which setting to fill and where the file is published.

`KNOWN_WEIGHTS` is also a manifest: per key, the official sha256 where it is published (a torch.hub file
name's 8 hex digits are a sha256 prefix), or the `config.json` fields of a model folder, and the pipelines
that need it. ``python -m omnihuman_pipeline.weights verify`` checks every configured key against it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

PROGRESS_BYTES = 100 * 2**20  # files above this show a progress bar while they are hashed
CHUNK_BYTES = 8 * 2**20


@dataclass(frozen=True)
class WeightSpec:
    """Where a component's official weights come from, and what they must look like.

    Attributes:
        key: the weights key (`resolve(key)`, `OMNIHUMAN_WEIGHTS_<KEY>`).
        filename: the official file or folder, in words.
        published_at: where to get it.
        sha256: the official sha256 (64 hex digits) or a published prefix of it; None where unknown.
        size: the official size in bytes; None where unknown.
        config: `config.json` fields every official folder has (transformers / diffusers); None for a file.
        needed_by: pipelines that resolve this key.
        official_files: file name -> official sha256, for a key with several official files (Whisper sizes).
        subfolder: for a folder key whose loader also takes the repository root: the model's subfolder there.
    """

    key: str
    filename: str
    published_at: str
    sha256: str | None = None
    size: int | None = None
    config: Mapping[str, Any] | None = None
    needed_by: tuple[str, ...] = ()
    official_files: Mapping[str, str] | None = None
    subfolder: str | None = None


# openai-whisper `_MODELS`: each download URL holds the file's sha256, which `whisper.load_model` checks.
WHISPER_SHA256 = {
    "tiny.en.pt": "d3dd57d32accea0b295c96e26691aa14d8822fac7d9d27d5dc00b4ca2826dd03",
    "tiny.pt": "65147644a518d12f04e32d6f3b26facc3f8dd46e5390956a9424a650c0ce22b9",
    "base.en.pt": "25a8566e1d0c1e2231d1c762132cd20e0f96a85d16145c3a00adf5d1ac670ead",
    "base.pt": "ed3a0b6b1c0edf879ad9b11b1af5a0e6ab5db9205f891f668f8b0e6c6326e34e",
    "small.en.pt": "f953ad0fd29cacd07d5a9eda5624af0f6bcf2258be67c92b79389873d91e0872",
    "small.pt": "9ecf779972d90ba49c06d968637d720dd632c55bbf19d441fb42bf17a411e794",
    "medium.en.pt": "d7440d1dc186f76616474e0ff0b3b6b879abc9d1a4926b7adfa41db2d497ab4f",
    "medium.pt": "345ae4da62f9b3d59415adc60127b97c714f32e89e936602e85993674d08dcb1",
    "large-v1.pt": "e4b87e7e0bf463eb8e6956e646f1e277e901512310def2c24bf0e11bd3c28e9a",
    "large-v2.pt": "81f7c96c852ee8fc832187b0132e569d6c3065a3252ed18e56effd0b6a73e524",
    "large-v3.pt": "e5b1a55b89c1367dacf97e3e19bfd829a01529dbfdeefa8caeb59b3f1b81dadb",
    "large-v3-turbo.pt": "aff26ae408abcba5fbf8813c21e62b0941638c5f6eebfb145be0c9839262a19a",
}

WAN_DIFFUSERS = "huggingface.co/Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
CURATE, FEATURES, TRAIN, GENERATE, EVALUATE = "curate", "features", "train", "generate", "evaluate"

KNOWN_WEIGHTS: dict[str, WeightSpec] = {
    spec.key: spec
    for spec in [
        WeightSpec("laion_aesthetic", "sac+logos+ava1-l14-linearMSE.pth",
                   "github.com/christophschuhmann/improved-aesthetic-predictor", needed_by=(CURATE,)),
        # projection_dim is at the top of both CLIPModel's and CLIPVisionModelWithProjection's config.json
        WeightSpec("clip_vit_l14", "ViT-L-14 (open_clip / transformers CLIPVisionModelWithProjection folder)",
                   "huggingface.co/openai/clip-vit-large-patch14", config={"projection_dim": 768},
                   needed_by=(CURATE,)),
        WeightSpec("syncnet", "syncnet_v2.model", "github.com/joonson/syncnet_python (download_model.sh)",
                   needed_by=(CURATE, EVALUATE)),
        WeightSpec("whisper", "a Whisper checkpoint (.pt) for openai-whisper", "github.com/openai/whisper",
                   needed_by=(CURATE,), official_files=WHISPER_SHA256),
        WeightSpec("dwpose_det", "yolox_l.onnx", "huggingface.co/yzd-v/DWPose", needed_by=(CURATE, EVALUATE)),
        WeightSpec("dwpose_pose", "dw-ll_ucoco_384.onnx", "huggingface.co/yzd-v/DWPose",
                   needed_by=(CURATE, EVALUATE)),
        # evaluate generates the videos it scores, so it needs the encoders the checkpoint was trained on
        WeightSpec("wav2vec2", "a wav2vec2 folder for transformers", "huggingface.co/facebook/wav2vec2-base-960h",
                   config={"model_type": "wav2vec2"}, needed_by=(FEATURES, GENERATE, EVALUATE)),
        WeightSpec("vae", "the vae/ folder of a Wan2.1 Diffusers repo (diffusers AutoencoderKLWan)",
                   f"{WAN_DIFFUSERS} (vae/)", config={"_class_name": "AutoencoderKLWan", "z_dim": 16},
                   needed_by=(FEATURES, GENERATE, EVALUATE)),
        WeightSpec("text_encoder", "a T5/CLIP text encoder folder for transformers", "huggingface.co/google/umt5-xxl",
                   needed_by=(FEATURES, GENERATE, EVALUATE)),
        WeightSpec("inception_fid", "pt_inception-2015-12-05-6726825d.pth",
                   "github.com/mseitzer/pytorch-fid/releases (tag fid_weights; torch-fidelity's "
                   "weights-inception-2015-12-05-6726825d.pth has the same key layout)",
                   sha256="6726825d", needed_by=(EVALUATE,)),  # torch.hub names a file by its sha256 prefix
        WeightSpec("i3d_fvd", "i3d_torchscript.pt",
                   "github.com/universome/stylegan-v (the Dropbox link in src/metrics/frechet_video_distance.py)",
                   needed_by=(EVALUATE,)),
        WeightSpec("qalign", "a q-align checkpoint folder", "huggingface.co/q-future/one-align", needed_by=(EVALUATE,)),
        WeightSpec("captioner", "a vision-language captioning model folder for transformers",
                   "huggingface.co (e.g. a LLaVA/Qwen-VL checkpoint)", needed_by=(CURATE, GENERATE, EVALUATE)),
        WeightSpec("mmdit_t2v", "a pretrained text-to-video MMDiT state dict", "your text-to-video checkpoint",
                   needed_by=(TRAIN,)),
        # only the fields the 1.3B and the 14B (Wan-AI/Wan2.1-T2V-14B-Diffusers) share: either size passes
        WeightSpec("wan_t2v", "the transformer/ folder of a Wan2.1 T2V Diffusers repo (WanTransformer3DModel)",
                   f"{WAN_DIFFUSERS} (transformer/)",
                   config={"_class_name": "WanTransformer3DModel", "in_channels": 16, "text_dim": 4096,
                           "patch_size": [1, 2, 2]}, needed_by=(TRAIN,)),  # train.model.backbone: wan
        WeightSpec("umt5", "the text_encoder/ folder (or the root) of a Wan2.1 Diffusers repo (UMT5EncoderModel)",
                   f"{WAN_DIFFUSERS} (text_encoder/ + tokenizer/)",
                   config={"architectures": ["UMT5EncoderModel"], "model_type": "umt5", "d_model": 4096,
                           "num_layers": 24}, needed_by=(FEATURES, GENERATE, EVALUATE), subfolder="text_encoder"),
    ]
}


class WeightsNotFoundError(FileNotFoundError):
    """A real backend was requested but its weights file is not on this machine."""


def _weights_file() -> Path:
    return Path(os.environ.get("OMNIHUMAN_WEIGHTS_FILE", "conf/local/weights.yml"))


def _env_name(key: str) -> str:
    return f"OMNIHUMAN_WEIGHTS_{key.upper()}"


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
    env_name = _env_name(key)
    candidate = explicit or os.environ.get(env_name) or configured_paths().get(key)
    if candidate and Path(candidate).expanduser().exists():
        return Path(candidate).expanduser()
    spec = KNOWN_WEIGHTS.get(key, WeightSpec(key, key, "its publisher"))
    where = f"'{candidate}' does not exist" if candidate else "no path is configured"
    raise WeightsNotFoundError(
        f"Weights for '{key}' not found ({where}). Put {spec.filename} on this machine and set "
        f"{env_name}=/path/to/it or '{key}: /path/to/it' in {_weights_file()}. Published at: {spec.published_at}."
    )


# --- verification ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VerifyResult:
    """One row of `verify`.

    Attributes:
        key: the weights key.
        path: the configured path, None when the key is not configured.
        found: whether the path exists; None when not configured.
        status: "ok" | "mismatch" | "missing" | "not checked" | "not configured".
        detail: what was compared (ok), what differs (mismatch) or why nothing was compared (not checked).
        needed_by: pipelines that need the key.
        sha256: the file's sha256 when it was hashed.
    """

    key: str
    path: str | None
    found: bool | None
    status: str
    detail: str = ""
    needed_by: tuple[str, ...] = ()
    sha256: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("missing", "mismatch")

    @property
    def check(self) -> str:
        """The table's check column: `ok (sha256)`, `mismatch: <what>`, `not checked: <why>`."""
        if not self.detail:
            return self.status
        return f"ok ({self.detail})" if self.status == "ok" else f"{self.status}: {self.detail}"


def sha256_of(path: Path, progress: bool | None = None) -> str:
    """Hex sha256 of a file, read in chunks; a tqdm bar on stderr for files over `PROGRESS_BYTES` (or if asked)."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    bar = None
    if progress if progress is not None else size > PROGRESS_BYTES:
        from tqdm.auto import tqdm

        bar = tqdm(total=size, unit="B", unit_scale=True, desc=f"sha256 {path.name}", file=sys.stderr)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
            if bar is not None:
                bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return digest.hexdigest()


def compare_sha256(actual: str, expected: str) -> str | None:
    """None when `actual` matches `expected` (a full digest or a published prefix of it), else what differs."""
    if actual.lower().startswith(expected.lower()):
        return None
    shown = len(expected) if len(expected) < 64 else 16
    return f"sha256 {actual[:shown]}{'…' if shown < len(expected) else ''} != expected {_short(expected)}"


def _short(digest: str) -> str:
    return digest if len(digest) <= 16 else f"{digest[:16]}…"


def compare_config(config: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """The `expected` fields that `config` lacks or holds with another value, as `field = value (expected x)`."""
    out = []
    for name, want in expected.items():
        if name not in config:
            out.append(f"{name} absent (expected {want!r})")
        elif config[name] != want:
            out.append(f"{name} = {config[name]!r} (expected {want!r})")
    return out


def verify_entry(spec: WeightSpec, path: str | os.PathLike | None, progress: bool | None = None) -> VerifyResult:
    """Check one configured path against its manifest entry.

    Args:
        spec: the key's manifest entry.
        path: the configured path; None for a key that is not configured.
        progress: force the hashing progress bar on/off; None shows it for files over `PROGRESS_BYTES`.

    Returns:
        The row; `ok` only when a published sha256 (or prefix) or published config.json fields were compared.
    """
    if path is None:
        return VerifyResult(spec.key, None, None, "not configured", needed_by=spec.needed_by)
    file = Path(path).expanduser()
    if not file.exists():
        return VerifyResult(spec.key, str(path), False, "missing", "no such file or folder", spec.needed_by)
    if spec.config:
        config_name = "config.json"
        if spec.subfolder and not (file / config_name).is_file() and (file / spec.subfolder).is_dir():
            config_name = f"{spec.subfolder}/config.json"  # the repository root, which the loader also takes
        return VerifyResult(spec.key, str(path), True, *_check_folder(spec.config, file, config_name),
                            spec.needed_by)
    return _check_file(spec, file, str(path), progress)


def _check_file(spec: WeightSpec, file: Path, path: str, progress: bool | None) -> VerifyResult:
    def row(status: str, detail: str, digest: str | None = None) -> VerifyResult:
        return VerifyResult(spec.key, path, True, status, detail, spec.needed_by, digest)

    expected, label = spec.sha256, "sha256"
    if expected is None and spec.official_files:
        if file.name not in spec.official_files:
            return row("not checked", f"{file.name} is not an official file name ({', '.join(spec.official_files)})")
        expected, label = spec.official_files[file.name], f"sha256 of the official {file.name}"
    if expected is None and spec.size is None:
        return row("not checked", "official sha256 unknown" if file.is_file()
                   else "no published config.json fields to compare")
    if file.is_dir():
        return row("mismatch", "a folder where a file is expected")
    if spec.size is not None and file.stat().st_size != spec.size:
        return row("mismatch", f"size {file.stat().st_size} bytes != expected {spec.size}")
    if expected is None:  # a size alone does not tell the official file from another
        return row("not checked", "official sha256 unknown (size matches)")
    digest = sha256_of(file, progress)
    problem = compare_sha256(digest, expected)
    if problem:
        return row("mismatch", problem, digest)
    return row("ok", "sha256 prefix" if len(expected) < 64 else label, digest)


def _check_folder(expected: Mapping[str, Any], folder: Path, name: str = "config.json") -> tuple[str, str]:
    if not folder.is_dir():
        return "mismatch", "a file where a model folder is expected"
    config_file = folder / name
    if not config_file.is_file():
        return "mismatch", f"no {name} in the folder"
    try:
        config = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return "mismatch", f"{name} is not valid JSON ({err})"
    if not isinstance(config, dict):
        return "mismatch", f"{name} is not a JSON object"
    problems = compare_config(config, expected)
    return ("mismatch", f"{name} " + "; ".join(problems)) if problems else ("ok", name)


def configured_weights(keys: Sequence[str] | None = None) -> dict[str, str | None]:
    """Key -> configured path (`OMNIHUMAN_WEIGHTS_<KEY>` over the weights file; None: not configured).

    Args:
        keys: only these keys; None: every known key plus any other key the weights file names.
    """
    from_file = configured_paths()
    names = list(keys) if keys else [*KNOWN_WEIGHTS, *(k for k in from_file if k not in KNOWN_WEIGHTS)]
    return {key: os.environ.get(_env_name(key)) or from_file.get(key) for key in names}


def verify_all(keys: Sequence[str] | None = None, progress: bool | None = None) -> list[VerifyResult]:
    """One `VerifyResult` per key (`configured_weights(keys)`); an unknown key is `not checked`."""
    out = []
    for key, path in configured_weights(keys).items():
        spec = KNOWN_WEIGHTS.get(key)
        if spec is None:
            exists = Path(path).expanduser().exists() if path else None
            out.append(VerifyResult(key, path, exists, "not checked", "not a known weights key"))
        else:
            out.append(verify_entry(spec, path, progress))
    return out


def format_table(rows: Sequence[VerifyResult]) -> str:
    """The rows as a plain-text table: key, path, found, check, needed by."""
    header = ("key", "path", "found", "check", "needed by")
    cells = [header] + [(r.key, r.path or "-", {True: "yes", False: "no", None: "-"}[r.found], r.check,
                         ", ".join(r.needed_by) or "-") for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header) - 1)]
    return "\n".join("  ".join([*(c[i].ljust(w) for i, w in enumerate(widths)), c[-1]]).rstrip() for c in cells)


def main(argv: list[str] | None = None) -> int:
    """``python -m omnihuman_pipeline.weights verify [--key KEY ...] [--json]``; 1 when a configured key fails."""
    parser = argparse.ArgumentParser(prog="python -m omnihuman_pipeline.weights",
                                     description="Check the configured weights against the manifest.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="check every configured weights key (sha256 or config.json)")
    verify.add_argument("--key", action="append", dest="keys", metavar="KEY", help="check only this key (repeatable)")
    verify.add_argument("--json", action="store_true", help="print one JSON object per key, as a list")
    args = parser.parse_args(argv)
    unknown = [k for k in args.keys or [] if k not in KNOWN_WEIGHTS and k not in configured_paths()]
    if unknown:
        parser.error(f"unknown weights key(s) {', '.join(unknown)}; known: {', '.join(KNOWN_WEIGHTS)}")
    rows = verify_all(args.keys)
    if args.json:
        print(json.dumps([{**asdict(r), "check": r.check} for r in rows], indent=2))
    else:
        print(format_table(rows))
    return int(any(r.failed for r in rows))


if __name__ == "__main__":
    sys.exit(main())
