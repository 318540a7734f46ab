"""Motion amplitude and camera shake from dense optical flow (paper §3.3: "motion amplitude" filter).

Flow is computed on short windows of consecutive frames spread over the clip, never on the whole clip:
`n_windows` windows of `window` frames give `n_windows * (window - 1)` flow fields. Magnitudes are reported
in px/frame at a 256-px short side, whatever resolution the flow ran at, so thresholds do not depend on
`short_side`; "per frame" is per frame of the analysis clip (25 fps), so clips decoded at another rate
measure differently.

- `value` (mean flow magnitude) separates static shots (~0) from people talking or moving.
- `jitter` is the mean magnitude of the frame-to-frame change of the global (median) flow vector, i.e. the
  second difference of the camera path. A smooth pan or zoom has a constant global flow, so its jitter stays
  near 0 however fast it is; hand-held shake changes direction every few frames and scores high.
- `camera` is the mean magnitude of the global flow vector (a pan scores high, a zoom about its centre and
  subject motion score low).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from omnihuman_pipeline.scoring._frames import resize_short_side, rgb_to_gray, window_starts
from omnihuman_pipeline.scoring.base import AnalysisClip, Score

REFERENCE_SHORT_SIDE = 256  # flow magnitudes are reported as if the frame's short side were 256 px

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class MotionStats:
    """Flow statistics of one clip, px/frame at a 256-px short side."""

    mean: float  # mean flow magnitude over all pixels of all sampled flow fields
    p90: float  # mean over flow fields of the 90th percentile of the per-pixel magnitude
    camera: float  # mean magnitude of the global (median) flow vector
    jitter: float  # mean magnitude of the change of the global flow vector between consecutive frames
    n_flows: int


def farneback_flow(
    prev: np.ndarray,
    nxt: np.ndarray,
    *,
    pyr_scale: float = 0.5,
    levels: int = 3,
    winsize: int = 15,
    iterations: int = 3,
    poly_n: int = 5,
    poly_sigma: float = 1.2,
) -> np.ndarray:
    """Dense optical flow of OpenCV's Farneback method.

    Args:
        prev: uint8 grayscale frame [H, W].
        nxt: the next uint8 grayscale frame [H, W].
        pyr_scale, levels, winsize, iterations, poly_n, poly_sigma: `cv2.calcOpticalFlowFarneback` parameters.

    Returns:
        float32 flow [H, W, 2] (dx, dy) in px of the input resolution.
    """
    import cv2

    return cv2.calcOpticalFlowFarneback(
        prev, nxt, None, pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, 0
    )


def global_flow(flow: np.ndarray) -> np.ndarray:
    """The camera's share of a flow field: the per-component median, robust to a moving subject.

    Args:
        flow: [H, W, 2] flow in px.

    Returns:
        [2] (dx, dy) in px.
    """
    return np.median(flow.reshape(-1, 2), axis=0)


def motion_stats(windows: list[list[np.ndarray]], scale: float) -> MotionStats:
    """Summarise flow fields computed on windows of consecutive frames.

    Args:
        windows: per window, its consecutive flow fields, each [H, W, 2] in px.
        scale: factor from the flow's resolution to a 256-px short side.

    Returns:
        `MotionStats` in px/frame at a 256-px short side.
    """
    means, p90s, cams, jitters = [], [], [], []
    for flows in windows:
        globals_ = []
        for flow in flows:
            mag = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2)
            means.append(float(mag.mean()))
            p90s.append(float(np.percentile(mag, 90)))
            globals_.append(global_flow(flow))
        g = np.asarray(globals_)
        cams.extend(np.linalg.norm(g, axis=1).tolist())
        if len(g) > 1:
            jitters.extend(np.linalg.norm(np.diff(g, axis=0), axis=1).tolist())
    jitter = float(np.mean(jitters)) * scale if jitters else float("nan")
    return MotionStats(
        float(np.mean(means)) * scale,
        float(np.mean(p90s)) * scale,
        float(np.mean(cams)) * scale,
        jitter,
        len(means),
    )


def clip_motion(
    frames: np.ndarray, flow_fn: FlowFn, *, n_windows: int, window: int, short_side: int
) -> MotionStats | None:
    """Flow statistics of a clip from `n_windows` windows of `window` consecutive frames.

    Args:
        frames: uint8 RGB [T, H, W, 3].
        flow_fn: (prev_gray, next_gray) -> [H, W, 2] flow in px.
        n_windows: windows spread evenly over the clip.
        window: consecutive frames per window (>= 2; >= 3 to measure jitter).
        short_side: short side the flow runs at, in px (never upsampled above the frames' own).

    Returns:
        `MotionStats`, or None when the clip has fewer than `window` frames.
    """
    starts = window_starts(len(frames), window, n_windows)
    if len(starts) == 0:
        return None
    side = min(short_side, min(frames.shape[1:3]))
    windows = []
    for start in starts:
        grays = [resize_short_side(rgb_to_gray(f), side) for f in frames[start : start + window]]
        windows.append([flow_fn(a, b) for a, b in zip(grays[:-1], grays[1:], strict=True)])
    return motion_stats(windows, REFERENCE_SHORT_SIDE / side)


def dis_flow(prev: np.ndarray, nxt: np.ndarray, dis) -> np.ndarray:
    """Dense optical flow of OpenCV's DIS method (Kroeger et al., ECCV 2016).

    Args:
        prev: uint8 grayscale frame [H, W].
        nxt: the next uint8 grayscale frame [H, W].
        dis: a `cv2.DISOpticalFlow` instance.

    Returns:
        float32 flow [H, W, 2] (dx, dy) in px of the input resolution.
    """
    return dis.calc(prev, nxt, None)


@dataclass
class _WindowedFlowMotion(ABC):
    """Motion from flow on sampled windows of consecutive frames; subclasses say which flow."""

    signal: ClassVar[str] = "motion"
    backend: ClassVar[str] = ""

    n_windows: int = 8
    window: int = 3
    short_side: int = 128

    def __post_init__(self) -> None:
        if self.window < 2 or self.n_windows < 1 or self.short_side < 16:
            raise ValueError(f"motion: need window >= 2, n_windows >= 1, short_side >= 16, got {self}")

    def setup(self) -> None:
        import cv2  # noqa: F401  (fail at setup, not on the first clip, when OpenCV is missing)

    @abstractmethod
    def _flow(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """Flow [H, W, 2] in px from uint8 grayscale `prev` to `nxt`."""

    def score(self, clip: AnalysisClip) -> Score:
        self.setup()
        stats = clip_motion(
            clip.frames, self._flow, n_windows=self.n_windows, window=self.window, short_side=self.short_side
        )
        if stats is None:
            return Score.failed(self.backend, "too_short")
        return Score(
            stats.mean,
            self.backend,
            None,
            {"p90": stats.p90, "camera": stats.camera, "jitter": stats.jitter, "n_flows": stats.n_flows},
        )


DIS_PRESETS = {
    "ultrafast": "DISOPTICAL_FLOW_PRESET_ULTRAFAST",
    "fast": "DISOPTICAL_FLOW_PRESET_FAST",
    "medium": "DISOPTICAL_FLOW_PRESET_MEDIUM",
}


@dataclass
class DISMotion(_WindowedFlowMotion):
    """Motion scorer on OpenCV DIS flow (the offline default; RAFT/UniMatch are the real backends).

    Measured with `benchmarks/motion_flow.py` (virtual-camera pans over a real photo, flow at 128 px): pans of
    1, 2 and 8 px/frame read 1.09, 2.12 and 7.97 (Farneback: 0.94, 1.86, 7.28), static and shaky clips score
    alike, in 0.23x Farneback's time.

    Attributes:
        n_windows: windows of consecutive frames sampled over the clip.
        window: frames per window; 3 gives two consecutive flows, the least that measures jitter.
        short_side: short side (px) the flow runs at.
        preset: DIS preset, "ultrafast" | "fast" | "medium".
    """

    backend: ClassVar[str] = "dis"

    preset: str = "fast"
    _dis: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.preset not in DIS_PRESETS:
            raise ValueError(f"motion: unknown DIS preset '{self.preset}'; known: {sorted(DIS_PRESETS)}")

    def setup(self) -> None:
        if self._dis is None:
            import cv2

            self._dis = cv2.DISOpticalFlow_create(getattr(cv2, DIS_PRESETS[self.preset]))

    def _flow(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        return dis_flow(prev, nxt, self._dis)

    def __getstate__(self) -> dict[str, Any]:  # the OpenCV object does not pickle; setup() rebuilds it
        return {**self.__dict__, "_dis": None}


@dataclass
class FarnebackMotion(_WindowedFlowMotion):
    """Motion scorer on OpenCV Farneback flow (RAFT/UniMatch are the real backends).

    Attributes:
        n_windows: windows of consecutive frames sampled over the clip.
        window: frames per window; 3 gives two consecutive flows, the least that measures jitter.
        short_side: short side (px) the flow runs at; 128 is ~4x cheaper than 256 and ranks clips the same.
        pyr_scale, levels, winsize, iterations, poly_n, poly_sigma: Farneback parameters.
    """

    backend: ClassVar[str] = "farneback"

    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2

    def _flow(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        return farneback_flow(
            prev,
            nxt,
            pyr_scale=self.pyr_scale,
            levels=self.levels,
            winsize=self.winsize,
            iterations=self.iterations,
            poly_n=self.poly_n,
            poly_sigma=self.poly_sigma,
        )


MOTION_BACKENDS: dict[str, type] = {"dis": DISMotion, "farneback": FarnebackMotion}
