"""OmniHuman DiT (paper §3.1–3.2): MMDiT backbone (or Wan2.1, ``wan.py``), 3D RoPE, audio adapter, pose guider, weight loading."""

from .attention import ATTENTION_BACKENDS, JointAttention, attention
from .audio_adapter import AudioAdapter, FrameAudioCrossAttention
from .config import PRESETS, OmniHumanConfig
from .export import ModelCard, ModelFolderError, load_model_folder, read_model_card, save_model_folder
from .latent_layout import (
    TokenLayout,
    audio_token_index,
    latent_frame_loss_mask,
    latent_to_pixel_frames,
    motion_latent_frames,
    num_latent_frames,
    num_pixel_frames,
    pixel_to_latent_frame,
    window_pixel_frames,
)
from .mmdit import MMDiTBlock, OmniHumanTransformer, count_parameters, parameter_counts
from .pose_guider import PoseGuider
from .pretrained import LoadReport, load_pretrained_t2v
from .registry import BACKBONE_CLASSES, build_model
from .rope import RopeFreqs, apply_rope, video_rope

__all__ = [
    "ATTENTION_BACKENDS",
    "BACKBONE_CLASSES",
    "PRESETS",
    "AudioAdapter",
    "FrameAudioCrossAttention",
    "JointAttention",
    "LoadReport",
    "ModelCard",
    "ModelFolderError",
    "MMDiTBlock",
    "OmniHumanConfig",
    "OmniHumanTransformer",
    "PoseGuider",
    "RopeFreqs",
    "TokenLayout",
    "apply_rope",
    "attention",
    "audio_token_index",
    "build_model",
    "count_parameters",
    "latent_frame_loss_mask",
    "latent_to_pixel_frames",
    "load_model_folder",
    "load_pretrained_t2v",
    "motion_latent_frames",
    "num_latent_frames",
    "num_pixel_frames",
    "parameter_counts",
    "pixel_to_latent_frame",
    "read_model_card",
    "save_model_folder",
    "video_rope",
    "window_pixel_frames",
]
