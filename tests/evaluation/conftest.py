"""Small real test videos (a talking face with speech, one without an audio track, a broken file), a features index
and clips table over them, and tiny model folders with their training reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.inference.conftest import one_torch_thread, write_model_folder, write_pose_npz  # noqa: F401 (autouse)

VAL_LOSS = {2: {"loss": 1.02, "loss_text": 1.01, "loss_audio": 1.03},
            3: {"loss": 1.0, "loss_text": 0.99, "loss_audio": 1.0, "loss_pose": 1.01}}


def write_talking_video(path: Path, *, seed: int = 0, seconds: float = 1.0, audio: bool = True,
                        size: int = 64) -> Path:
    """The corpus's talking face (mouth driven by speech-like audio) as an mp4, with its 48 kHz AAC track or none."""
    from omnihuman_pipeline.corpus import encode
    from omnihuman_pipeline.corpus.talking import FILE_SR, SPEECH_SR, _resample, talking_clip

    clip = talking_clip(seed=seed, duration_s=seconds, size=size)
    track = _resample(clip.audio, SPEECH_SR, FILE_SR) if audio else None
    encode.write_video(path, clip.frames, audio=track, sample_rate=FILE_SR, preset="ultrafast")
    return path


def write_test_folder(root: Path, seconds: float = 1.0) -> Path:
    """A folder test set: two talking videos (the second with keypoints beside it), one without an audio track, one
    undecodable file, and a hidden file that is not a test video."""
    root.mkdir(parents=True, exist_ok=True)
    write_talking_video(root / "good_a.mp4", seed=0, seconds=seconds)
    write_talking_video(root / "good_b.mp4", seed=3, seconds=seconds)
    write_pose_npz(root / "good_b.pose.npz", int(seconds * 25))
    write_talking_video(root / "silent_track.mp4", seed=1, seconds=seconds, audio=False)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    (root / ".hidden.mp4").write_bytes(b"")
    return root


def features_index(clips: list[tuple[str, str, bool, bool]]) -> pd.DataFrame:
    """A features index (the columns the training split reads) of (clip_id, video_id, A, P) clips, all cached ok."""
    rows = [{"clip_id": c, "video_id": v, "status": "ok", "eligible_T": True, "eligible_A": a, "eligible_P": p,
             "video_shard": f"{i:08d}.safetensors", "latent_channels": 768, "height": 32, "width": 32,
             "n_latent_frames": 7} for i, (c, v, a, p) in enumerate(clips)]
    return pd.DataFrame(rows)


def clips_table(clips: list[tuple[str, str, bool, bool]], media: dict[str, str | None],
                pose: dict[str, str] | None = None) -> pd.DataFrame:
    """A curate clips table of the same clips: clip media, pose arrays, captions, eligibility."""
    return pd.DataFrame([{"clip_id": c, "video_id": v, "clip_path": media.get(c), "eligible_T": True,
                          "eligible_A": a, "eligible_P": p, "pose_arrays": (pose or {}).get(c),
                          "caption": f"A close-up shot of person {v} speaking."} for c, v, a, p in clips])


def write_trained_folder(path: Path, stage: int, seed: int = 0) -> Path:
    """A tiny random model folder with the report.json training leaves beside it."""
    write_model_folder(path, stage, seed=seed)
    (path / "report.json").write_text(json.dumps({"stage": f"stage{stage}", "val_loss": VAL_LOSS[stage],
                                                  "clips": {"train": 4, "val": 2}}))
    return path


@pytest.fixture(scope="session")
def test_folder(tmp_path_factory) -> Path:
    """The folder test set (1 s videos, 64 px)."""
    return write_test_folder(tmp_path_factory.mktemp("eval_media") / "set")


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory) -> dict[int, Path]:
    """Tiny stage-2 and stage-3 model folders with reports (32 px bucket, 25-frame windows)."""
    root = tmp_path_factory.mktemp("eval_models")
    return {stage: write_trained_folder(root / f"stage{stage}", stage) for stage in (2, 3)}


def frames_of(n: int, seed: int = 0, size: int = 32) -> np.ndarray:
    """Seeded random RGB frames [n, size, size, 3]."""
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
