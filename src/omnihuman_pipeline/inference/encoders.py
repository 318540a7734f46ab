"""The encoders a checkpoint was trained on, rebuilt from its ``model.json`` (``features`` settings).

Generation must encode the reference image, the audio and the caption exactly as the features
pipeline encoded the training clips, so the backends, their settings (text ``max_length``, video
bucket) and the frame rule come from the card, never from the generation config. Only settings that
do not change values (``device``, ``weights`` paths) may be given here. A backend asked for that
differs from the card's is an error naming both; so is a card whose encoder shapes do not match its
own network (latent channels, text width, audio layers and width).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from omnihuman_pipeline.features.config import KINDS, FeatureConfig
from omnihuman_pipeline.inference.conditions import GenerationError
from omnihuman_pipeline.models.export import ModelCard


def feature_config(card: ModelCard, checkpoint: str, backends: dict[str, str | None] | None = None,
                   device: str | None = None, weights: dict[str, str | None] | None = None) -> FeatureConfig:
    """The checkpoint's feature settings, with only value-neutral overrides applied.

    Args:
        card: the checkpoint's card.
        checkpoint: its folder (for messages).
        backends: kind -> backend the caller expects (None or absent: take the card's).
        device: torch device for every encoder (None: the card's).
        weights: kind -> explicit weights folder of a real backend (None: the card's / conf/local).

    Returns:
        The :class:`FeatureConfig` generation encodes with.

    Raises:
        GenerationError: the card has no feature settings, its backends disagree with
            ``feature_backends``, or an expected backend differs from the card's.
    """
    if not card.features:
        raise GenerationError(f"{checkpoint}/model.json records no `features` settings, so its encoders are "
                              "unknown; re-export the model with the FeatureConfig it was trained on")
    config = FeatureConfig.from_params(card.features)
    for kind in KINDS:
        trained = getattr(config, kind).backend
        recorded = card.feature_backends.get(kind)
        if recorded and recorded != trained:
            raise GenerationError(f"{checkpoint}/model.json disagrees with itself: features.{kind}.backend is "
                                  f"{trained!r} but feature_backends.{kind} is {recorded!r}")
        wanted = (backends or {}).get(kind)
        if wanted and wanted != trained:
            raise GenerationError(
                f"{kind} backend {wanted!r} was asked for, but {checkpoint} was trained on {trained!r} {kind} "
                f"features (model.json features.{kind}.backend): drop the {kind} backend setting or use a "
                f"checkpoint trained on {wanted!r}")
    for kind in ("video", "audio", "text"):
        changes: dict[str, Any] = {}
        if device:
            changes["device"] = device
        if (weights or {}).get(kind):
            changes["weights"] = weights[kind]
        if changes:
            config = replace(config, **{kind: replace(getattr(config, kind), **changes)})
    return config


@dataclass
class Encoders:
    """Video codec / VAE, text encoder and (when audio is used) audio encoder of one checkpoint.

    Attributes:
        config: the feature settings they were built from.
        video: ``PatchifyCodec`` | ``WanVAE`` (``encode`` uint8 frames, ``decode`` latents).
        text: ``TextEncoder``.
        audio: the audio feature encoder, built on first use (None until then).
    """

    config: FeatureConfig
    video: Any
    text: Any
    audio: Any = None

    @classmethod
    def build(cls, config: FeatureConfig, model_config: Any, checkpoint: str) -> Encoders:
        """Build the video and text encoders and check them against the network's input sizes."""
        from omnihuman_pipeline.features.text import build_text_encoder
        from omnihuman_pipeline.features.vae import build_video_encoder

        v, t = config.video, config.text
        video = build_video_encoder(v.backend, weights=v.weights, device=v.device, dtype=v.dtype)
        text = build_text_encoder(t.backend, max_length=t.max_length, weights=t.weights, device=t.device)
        _check_size(checkpoint, "video latent channels", video.latent_channels, "in_channels",
                    model_config.in_channels)
        _check_size(checkpoint, "text width", text.dim, "text_dim", model_config.text_dim)
        return cls(config, video, text)

    def audio_encoder(self, model_config: Any, checkpoint: str) -> Any:
        """The audio encoder (built once), checked against the network's audio layers and width."""
        if self.audio is None:
            from omnihuman_pipeline.features.audio import build_audio_encoder

            a = self.config.audio
            self.audio = build_audio_encoder(a.backend, weights=a.weights, device=a.device)
            _check_size(checkpoint, "audio layers", self.audio.layers, "audio_layers", model_config.audio_layers)
            _check_size(checkpoint, "audio width", self.audio.dim, "audio_dim", model_config.audio_dim)
        return self.audio

    def backends(self) -> dict[str, str]:
        """Backend name per kind (for the output table)."""
        return {kind: getattr(self.config, kind).backend for kind in KINDS}

    def encode_reference(self, image: np.ndarray) -> Tensor:
        """RGB uint8 [H, W, 3] -> reference latent [1, C, 1, H/8, W/8] (float32), as the features pipeline does."""
        return self.video.encode(image[None]).latents(torch.float32)[None]

    def encode_text(self, caption: str) -> tuple[Tensor, Tensor]:
        """Caption -> states [1, L, D] (float32) and mask bool [1, L], stored precision as in training."""
        from omnihuman_pipeline.features.vae import DTYPES

        states, mask = self.text.encode(caption)
        states = torch.from_numpy(states).to(DTYPES[self.config.text.dtype]).float()
        return states[None], torch.from_numpy(mask)[None]

    def encode_audio(self, audio: np.ndarray, n_frames: int, model_config: Any, checkpoint: str) -> Tensor:
        """Mono 16 kHz audio fitted to ``n_frames`` at 25 fps -> features [F, L, C] (float32)."""
        from omnihuman_pipeline.features.audio import clip_audio_features
        from omnihuman_pipeline.features.vae import DTYPES

        fr = self.config.frames
        feats = clip_audio_features(self.audio_encoder(model_config, checkpoint), audio, n_frames=n_frames,
                                    fps=fr.fps, sample_rate=fr.sample_rate)
        return torch.from_numpy(feats).to(DTYPES[self.config.audio.dtype]).float()

    def audio_frames(self, audio: np.ndarray, n_frames: int, model_config: Any, checkpoint: str):
        """Frame features of a drive, read by frame range: Whisper windows encoded as sampling reaches them
        (:class:`~omnihuman_pipeline.features.audio.WindowedAudioFeatures`, memory independent of the length);
        other encoders: :meth:`encode_audio` of the whole drive."""
        from omnihuman_pipeline.features.audio import WhisperFeatures, WindowedAudioFeatures
        from omnihuman_pipeline.features.vae import DTYPES

        encoder = self.audio_encoder(model_config, checkpoint)
        if not isinstance(encoder, WhisperFeatures):
            return self.encode_audio(audio, n_frames, model_config, checkpoint)
        fr = self.config.frames
        return WindowedAudioFeatures(encoder, audio, n_frames=n_frames, fps=fr.fps, sample_rate=fr.sample_rate,
                                     dtype=DTYPES[self.config.audio.dtype])

    def decode(self, latents: Tensor) -> Tensor:
        """Latents [C, T, h, w] -> video [3, 1 + 4(T-1), 8h, 8w] in [-1, 1]."""
        return self.video.decode(latents.float().cpu())


def _check_size(checkpoint: str, what: str, encoder_value: int, field: str, model_value: int) -> None:
    if encoder_value != model_value:
        raise GenerationError(f"{checkpoint}: the encoder named in model.json gives {what} {encoder_value}, but the "
                              f"network expects {field}={model_value}; the card's features do not match its weights")
