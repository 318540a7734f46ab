"""Tiny model folders (random weights, the offline backends' shapes) and real-looking inputs for generation."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from omnihuman_pipeline.models import ModelCard, OmniHumanConfig, OmniHumanTransformer, save_model_folder
from tests.models.conftest import perturb_zero_inits

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SR = 16_000
STAGE_CONDITIONS = {1: ("text", "image"), 2: ("text", "image", "audio"), 3: ("text", "image", "audio", "pose")}
# The feature settings a tiny checkpoint records: 32 px short side (4x4 latents), 25-frame clips.
TINY_FEATURES = {"frames": {"max_frames": 25}, "video": {"short_side": 32}, "text": {"max_length": 16}}
TINY_BACKENDS = {"video": "patchify", "audio": "whisper", "text": "minilm", "pose": "keypoints"}


def tiny_config() -> OmniHumanConfig:
    """The tiny preset sized for the offline encoders: patchify 768 channels, MiniLM 384, Whisper tiny.en 5 x 384."""
    return OmniHumanConfig.from_preset("tiny", in_channels=768, text_dim=384, audio_layers=5, audio_dim=384)


def tiny_model(seed: int = 0) -> OmniHumanTransformer:
    """A seeded tiny network whose zero-initialised layers (outputs, audio, pose) carry random values."""
    torch.manual_seed(seed)
    model = OmniHumanTransformer(tiny_config()).eval()
    perturb_zero_inits(model, conditions=True, seed=seed + 1)
    return model


def write_model_folder(path: Path, stage: int = 3, *, features: dict | None = None, flow: dict | None = None,
                       backends: dict | None = None, seed: int = 0) -> Path:
    """A model folder as training writes it: tiny random weights and a card for ``stage``."""
    model = tiny_model(seed)
    card = ModelCard(model.config, stage=stage, conditions=STAGE_CONDITIONS[stage],
                     features=TINY_FEATURES if features is None else features,
                     feature_backends=TINY_BACKENDS if backends is None else backends,
                     flow={"shift": 3.0} if flow is None else flow,
                     training={"window_latent_frames": 7, "motion_latent_frames": 2})  # 25-frame windows
    return save_model_folder(path, model, card)


def write_png(path: Path, image: np.ndarray) -> Path:
    """An RGB uint8 [H, W, 3] picture as PNG (PyAV)."""
    import av

    h, w = image.shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = w, h, "rgb24"
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_wav(path: Path, audio: np.ndarray, sample_rate: int = SR) -> Path:
    """Mono float audio as 16-bit PCM WAV (PyAV)."""
    import av

    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)[None]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=sample_rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_pose_npz(path: Path, n_frames: int) -> Path:
    """Curate-style pose arrays: a standing skeleton every 4 frames, its arms swinging."""
    index = np.arange(0, n_frames, 4)
    body = np.full((len(index), 18, 3), np.nan, np.float32)
    hands = np.full((len(index), 2, 21, 3), np.nan, np.float32)
    joints = {0: (0.5, 0.2), 1: (0.5, 0.4), 2: (0.35, 0.4), 3: (0.3, 0.6), 4: (0.3, 0.8), 5: (0.65, 0.4),
              6: (0.7, 0.6), 7: (0.7, 0.8), 14: (0.45, 0.17), 15: (0.55, 0.17)}
    for t, f in enumerate(index):
        for j, (x, y) in joints.items():
            body[t, j] = (x + (0.05 * np.sin(f / 5) if j in (3, 4, 6, 7) else 0.0), y, 0.9)
    np.savez(path, frame_index=index, body=body, hands=hands)
    return path


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run each test on one torch thread: the tiny model gains nothing from a second, and on a shared 2-core
    machine an OpenMP thread waiting for a busy core made a forward 10-30x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    """ref.png (a synthetic talking face), speech.wav (its 3 s of speech), two.png (two faces), coffee.png (no face),
    garbage.wav (not audio), pose.npz (3 s of keypoints), skeleton.mp4 (its first second drawn, no audio)."""
    from skimage import data

    from omnihuman_pipeline.corpus.talking import talking_clip
    from omnihuman_pipeline.features.pose_maps import load_pose_arrays, render_pose_maps
    from omnihuman_pipeline.inference.media_io import write_video

    d = tmp_path_factory.mktemp("generate_media")
    clip = talking_clip(seed=0, duration_s=3.0)
    write_png(d / "ref.png", clip.frames[0])
    write_wav(d / "speech.wav", clip.audio)
    write_png(d / "two.png", talking_clip(seed=7, duration_s=0.2, two_person=True).frames[0])
    write_png(d / "coffee.png", data.coffee())
    (d / "garbage.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really" + bytes(range(256)) * 8)
    write_pose_npz(d / "pose.npz", 75)
    body, hands = load_pose_arrays(d / "pose.npz", 25, max_gap=25)
    write_video(d / "skeleton.mp4", render_pose_maps(body, hands, 64, 64), None)
    return d


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory) -> dict[int, Path]:
    """Tiny stage-2 and stage-3 model folders."""
    root = tmp_path_factory.mktemp("models")
    return {stage: write_model_folder(root / f"stage{stage}", stage) for stage in (2, 3)}


@pytest.fixture
def model_factory() -> Callable[..., OmniHumanTransformer]:
    return tiny_model
