"""Fixtures for the feature tests: tiny synthetic clips (PyAV-encoded), pose arrays and a clips table."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from omnihuman_pipeline.media.clip_writer import ClipWriter

os.environ.setdefault("HF_HUB_OFFLINE", "1")
FPS, SR = 25, 16_000


def moving_frames(n: int, width: int = 64, height: int = 48, seed: int = 0) -> np.ndarray:
    """RGB uint8 [n, H, W, 3]: a bright square moving over a smooth gradient."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 90)], -1).astype(np.uint8)
    frames = np.repeat(base[None], n, axis=0)
    for i in range(n):
        x = (4 + 3 * i) % (width - 12)
        frames[i, 10:22, x:x + 12] = rng.integers(180, 255, 3)
    return frames


def write_clip(path: Path, n_frames: int, *, audio_s: float | None = None, width: int = 64, height: int = 48,
               seed: int = 0) -> Path:
    """Encode a synthetic 25 fps clip (with a 220 Hz tone of `audio_s` seconds, or no audio track)."""
    writer = ClipWriter(path, width=width, height=height, fps=FPS, crf=12, preset="ultrafast",
                        with_audio=audio_s is not None)
    for frame in moving_frames(n_frames, width, height, seed):
        writer.write(frame)
    audio = None
    if audio_s is not None:
        t = np.arange(int(audio_s * SR)) / SR
        audio = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return writer.close(audio)


def write_pose(path: Path, n_frames: int, step: int = 2) -> Path:
    """A `<clip_id>.pose.npz`: a standing skeleton sampled every `step` frames, swaying right."""
    index = np.arange(0, n_frames, step)
    body = np.full((len(index), 18, 3), np.nan, np.float32)
    hands = np.full((len(index), 2, 21, 3), np.nan, np.float32)
    joints = {0: (0.5, 0.15), 1: (0.5, 0.3), 2: (0.4, 0.3), 3: (0.35, 0.45), 4: (0.3, 0.6), 5: (0.6, 0.3),
              6: (0.65, 0.45), 7: (0.7, 0.6), 8: (0.45, 0.6), 11: (0.55, 0.6), 14: (0.47, 0.12), 15: (0.53, 0.12)}
    for t, f in enumerate(index):
        for j, (x, y) in joints.items():
            body[t, j] = (x + 0.01 * f, y, 0.9)
        hands[t, 0, :, :2] = np.linspace(0.28, 0.32, 21)[:, None] + 0.01 * f
        hands[t, 0, :, 2] = 0.8
    np.savez(path, frame_index=index, body=body, hands=hands)
    return path


def clip_row(clip_id: str, path: Path | str, n_frames: int, **extra) -> dict:
    return {"clip_id": clip_id, "video_id": clip_id.split("-")[0], "media_path": str(path), "start_s": 0.0,
            "end_s": n_frames / FPS, "n_frames": n_frames, "has_audio": True, "eligible_T": True, **extra}


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    """Synthetic clips shared by the session: 11 frames with audio, 9 without, a short-audio one, a corrupt file."""
    d = tmp_path_factory.mktemp("clips")
    write_clip(d / "a.mp4", 11, audio_s=11 / FPS)
    write_clip(d / "b.mp4", 9, audio_s=None, seed=1)
    write_clip(d / "short_audio.mp4", 13, audio_s=0.2, seed=2)
    write_clip(d / "c.mp4", 10, audio_s=10 / FPS, seed=3)
    write_pose(d / "a.pose.npz", 11)
    (d / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    return d


@pytest.fixture(scope="session")
def clips_table(clip_dir) -> pd.DataFrame:
    """A clips table over `clip_dir`: 4 good clips (one P with pose), a missing, a corrupt and a non-T clip."""
    rows = [
        clip_row("a-000000", clip_dir / "a.mp4", 11, caption="a person waves", eligible_P=True,
                 pose_arrays=str(clip_dir / "a.pose.npz")),
        clip_row("b-000000", clip_dir / "b.mp4", 9, has_audio=False, caption=""),
        clip_row("s-000000", clip_dir / "short_audio.mp4", 13, caption="short audio"),
        clip_row("c-000000", clip_dir / "c.mp4", 10, caption="another clip"),
        clip_row("m-000000", clip_dir / "missing.mp4", 10, caption="gone"),
        clip_row("x-000000", clip_dir / "corrupt.mp4", 10, caption="broken"),
        clip_row("n-000000", clip_dir / "a.mp4", 11, eligible_T=False),
    ]
    table = pd.DataFrame(rows)
    table["eligible_P"] = table["eligible_P"].fillna(False).astype(bool)
    table["eligible_A"] = False
    return table


@pytest.fixture(scope="session")
def tiny_params() -> dict:
    """Feature parameters small enough for CPU tests."""
    return {"frames": {"max_frames": 0, "min_frames": 5},
            "video": {"short_side": 32, "multiple": 16},
            "text": {"max_length": 8},
            "store": {"clips_per_shard": 1}}
