"""Online scene splitting: PySceneDetect's AdaptiveDetector fed one frame at a time, plus length limits."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BACKEND = "pyscenedetect-adaptive"


@dataclass
class SceneSplitConfig:
    """Scene-split parameters (`parameters_curate.yml: scenes`).

    Attributes:
        adaptive_threshold: ratio of a frame's content change to its neighbours' needed for a cut.
        min_content_val: smallest content change (0-255 scale) that may be a cut.
        window_width: frames before and after a candidate compared by the adaptive ratio.
        min_scene_s: no two cuts closer than this, in seconds.
        max_clip_s: a scene longer than this is split into clips of at most this length.
        weights: weights of the hue, saturation, luma and edge changes in the content score;
            hue carries double weight so hue-only cuts (same shot, other colour) are found.
        detect_short_side: frames are shrunk to this short side before detection: camera
            motion and texture change little at low resolution, a cut changes everything, so
            the adaptive ratio of a hue-only cut rises from ~2.9 (240 px) to ~4.6 (64 px).
    """

    adaptive_threshold: float = 3.0
    min_content_val: float = 15.0
    window_width: int = 2
    min_scene_s: float = 0.6
    max_clip_s: float = 20.0
    weights: dict[str, float] = field(
        default_factory=lambda: {"delta_hue": 2.0, "delta_sat": 1.0, "delta_lum": 1.0, "delta_edges": 0.0}
    )
    detect_short_side: int = 64


class SceneSplitter:
    """Feed frames in order; get back the frame indices where new clips start.

    A cut is reported `window_width` frames after it happens (the detector needs that much
    look-ahead), so callers hold back that many frames before committing them to a clip.
    `split_long` forces a boundary when a clip reaches `max_clip_s`; the boundary kind is
    recorded so the clip table can tell scene cuts from length splits.
    """

    def __init__(self, config: SceneSplitConfig, fps: float):
        from scenedetect.detectors import AdaptiveDetector
        from scenedetect.detectors.content_detector import ContentDetector

        self.config, self.fps = config, fps
        self.detector = AdaptiveDetector(
            adaptive_threshold=config.adaptive_threshold,
            min_content_val=config.min_content_val,
            window_width=config.window_width,
            min_scene_len=max(1, round(config.min_scene_s * fps)),
            weights=ContentDetector.Components(**config.weights),
        )
        self.max_frames = max(1, round(config.max_clip_s * fps))
        self.lag = config.window_width
        self.boundaries: list[tuple[int, str]] = [(0, "start")]

    def detect_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) the detector works at for frames of this size (`detect_short_side`, never larger)."""
        scale = min(1.0, self.config.detect_short_side / min(width, height))
        return max(1, round(width * scale)), max(1, round(height * scale))

    def push(self, index: int, rgb: np.ndarray) -> list[int]:
        """Process frame `index` (RGB uint8, any size; at `detect_size` already, it is used as is: `FrameReader`
        makes it there from the analysis frame as it decodes); return new scene-cut frame indices (usually none)."""
        import cv2

        h, w = rgb.shape[:2]
        size = self.detect_size(w, h)
        if size != (w, h):
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        cuts = self.detector.process_frame(index, np.ascontiguousarray(rgb[..., ::-1]))
        new = [c for c in cuts if c > self.boundaries[-1][0]]
        self.boundaries.extend((c, "cut") for c in new)
        return new

    def split_long(self, index: int) -> bool:
        """Force a boundary at `index` when the current clip would exceed `max_clip_s`."""
        if index - self.boundaries[-1][0] >= self.max_frames:
            self.boundaries.append((index, "length"))
            return True
        return False

    @property
    def last_start(self) -> int:
        return self.boundaries[-1][0]
