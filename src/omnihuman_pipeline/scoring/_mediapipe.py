"""MediaPipe 0.10.14 legacy solution graphs shared by the scorers of one worker, and their results per clip.

Person, face and pose all look for people on sampled frames. They sample the same grid of frames
(`detection_frames`) and get detections through `detect`, which runs each (graph, frame) once per clip, whichever
scorer asks first, and keeps the result on the clip (`AnalysisClip.memo`). With the default settings the person
scorer then costs nothing beyond what face and pose compute anyway: its face check reads the face scorer's
detections and its Pose fallback runs on frames the pose scorer needs too.

Only stateless graphs (`static_image_mode=True`, and FaceDetection, which has no tracking) may be shared this
way: a tracking graph's output depends on the frames it saw before. Graphs are created on first use, one per
(solution, options) per process, and `close_all` releases them; the next `detect` creates them again.

Tracking graphs (FaceMesh for lip sync, Pose for the pose scorer) follow one clip's frames in order through `track`:
one graph per (solution, options) per process, told to forget the previous clip by a blank frame, so a clip's
results never depend on the clips before it.
"""

from __future__ import annotations

import math
import sys
import types
import warnings
from typing import Any

import numpy as np

from omnihuman_pipeline.scoring._frames import spread_indices
from omnihuman_pipeline.scoring.base import AnalysisClip

SHORT_RANGE, FULL_RANGE = 0, 1  # FaceDetection model_selection
DETECTION_GRID_FPS = 2.0  # default sampling rate of person, face and pose: one grid, shared detections
# FaceDetection keeps candidates down to this score (MediaPipe 0.10.14 also returns some below it); the scorers
# apply their own, stricter thresholds to the scores, so one graph serves them all
FACE_GRAPH_MIN_SCORE = 0.5

_GRAPHS: dict[tuple, Any] = {}
_TRACKERS: dict[tuple, Any] = {}


def _options_key(options: dict[str, Any]) -> tuple:
    return tuple(sorted(options.items()))


class _ImportedOnFirstUse(types.ModuleType):
    """Stands in for a module that MediaPipe imports at import time but the scorers never use: the first attribute
    looked up imports the real module (once the stand-in has left `sys.modules`)."""

    def __getattr__(self, name: str) -> Any:
        import importlib

        if name.startswith("__") or sys.modules.get(self.__name__) is self:
            raise AttributeError(name)
        return getattr(importlib.import_module(self.__name__), name)


def import_mediapipe() -> types.ModuleType:
    """`import mediapipe`, without two imports it makes for APIs the scorers do not use, which every curate worker
    would pay at start: matplotlib, for its drawing helpers (0.31 s of MediaPipe's 0.45 s), and the Tasks API
    (`mediapipe.tasks.python`: 75 ms, PortAudio's `sounddevice` included); the scorers use the legacy solutions.

    While MediaPipe is imported, `matplotlib`, `matplotlib.pyplot`, `mediapipe.tasks` and `mediapipe.tasks.python` are
    stand-ins, taken out of `sys.modules` again right after: later imports of them are the real ones, and MediaPipe's
    references (`plot_landmarks`' pyplot, `mediapipe.tasks`) import the real module on first use. Nothing is changed
    when matplotlib or MediaPipe is already imported.
    """
    if "mediapipe" in sys.modules or "matplotlib" in sys.modules:
        import mediapipe

        return mediapipe
    pyplot = _ImportedOnFirstUse("matplotlib.pyplot")
    package = types.ModuleType("matplotlib")
    package.pyplot = pyplot
    tasks = _ImportedOnFirstUse("mediapipe.tasks")
    tasks.python = _ImportedOnFirstUse("mediapipe.tasks.python")  # what `mediapipe.tasks` is bound to
    stand_ins = {"matplotlib": package, "matplotlib.pyplot": pyplot, "mediapipe.tasks": tasks,
                 "mediapipe.tasks.python": tasks.python}
    sys.modules.update(stand_ins)
    try:
        import mediapipe
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    return mediapipe


def _factory(kind: str) -> Any:
    mp = import_mediapipe()
    factories = {
        "face_detection": mp.solutions.face_detection.FaceDetection,
        "face_mesh": mp.solutions.face_mesh.FaceMesh,
        "pose": mp.solutions.pose.Pose,
        "hands": mp.solutions.hands.Hands,
    }
    if kind not in factories:
        raise ValueError(f"unknown MediaPipe solution '{kind}'; known: {sorted(factories)}")
    return factories[kind]


def solution(kind: str, **options: Any) -> Any:
    """The process-wide graph of `kind` ("face_detection", "pose", "hands" or "face_mesh") built with `options`."""
    key = (kind, _options_key(options))
    graph = _GRAPHS.get(key)
    if graph is None:
        factory = _factory(kind)
        if kind != "face_detection" and not options.get("static_image_mode", False):
            raise ValueError(f"shared {kind} graphs must be static (static_image_mode=True): tracking has state")
        graph = _GRAPHS[key] = factory(**options)
    return graph


def track(kind: str, frames: np.ndarray, **options: Any) -> list[Any]:
    """A tracking graph of `kind` ("face_mesh" or "pose", `static_image_mode=False`) run over one clip's `frames`.

    One graph per (kind, options) serves every clip of the process: a blank frame first makes it lose whatever it
    tracked, so it starts on `frames[0]` from a fresh detection exactly as a new graph would (tested), without
    building a graph per clip (~20-35 ms, and MediaPipe's log lines each time). Options that filter landmarks over
    time (`smooth_landmarks`) must be off: they would carry the previous clip into this one.

    Args:
        frames: [T, H, W, 3] uint8 RGB, in time order.

    Returns:
        MediaPipe's result per frame.
    """
    if options.get("static_image_mode", False) or options.get("smooth_landmarks", False):
        raise ValueError("track() needs a tracking graph (static_image_mode=False) without smooth_landmarks")
    key = (kind, _options_key(options))
    graph = _TRACKERS.get(key)
    if graph is None:
        graph = _TRACKERS[key] = _factory(kind)(**options)
    if len(frames) == 0:
        return []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")
        graph.process(np.zeros(frames[0].shape, np.uint8))  # forget the previous clip
        return [graph.process(np.ascontiguousarray(frame)) for frame in frames]


def detect(clip: AnalysisClip, index: int, kind: str, **options: Any) -> Any:
    """`solution(kind, **options).process(frame)` on frame `index` of `clip`, computed once per clip.

    Returns:
        MediaPipe's result (a NamedTuple of protobuf copies, safe to keep).
    """
    key = ("mediapipe", kind, _options_key(options), int(index))
    if key not in clip.memo:
        frame = np.ascontiguousarray(clip.frames[index])
        with warnings.catch_warnings():
            # mediapipe 0.10.14 calls a protobuf API deprecated in protobuf 4.25 on every `process()`
            warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")
            clip.memo[key] = solution(kind, **options).process(frame)
    return clip.memo[key]


def face_detection_options(model_selection: int) -> dict[str, Any]:
    """Options of the shared FaceDetection graph: short range 0 or full range 1, permissive threshold."""
    return {"model_selection": model_selection, "min_detection_confidence": FACE_GRAPH_MIN_SCORE}


def face_detection(clip: AnalysisClip, index: int, model_selection: int) -> Any:
    """FaceDetection (short range 0, full range 1) on one frame, through the shared graph."""
    return detect(clip, index, "face_detection", **face_detection_options(model_selection))


def pose_options(min_detection_confidence: float) -> dict[str, Any]:
    """Options of the shared Pose graph: static images, the full model (the lite and heavy models are not in
    the wheel: MediaPipe downloads them on first use, which fails offline)."""
    return {"static_image_mode": True, "model_complexity": 1, "min_detection_confidence": min_detection_confidence}


def pose_landmarks(clip: AnalysisClip, index: int, min_detection_confidence: float) -> Any:
    """Pose on one frame, through the shared graph; None when no body."""
    return detect(clip, index, "pose", **pose_options(min_detection_confidence)).pose_landmarks


# A NormalizedLandmarkList on the wire when each point holds just x, y, z (FaceMesh): per point the field-1 tag
# (0x0a), the length (15), then tag + float32 for x (0x0d), y (0x15) and z (0x1d)
_XYZ_POINT = np.dtype([("tag", "u1"), ("size", "u1"), ("tx", "u1"), ("x", "<f4"), ("ty", "u1"), ("y", "<f4"),
                       ("tz", "u1"), ("z", "<f4")])
_XYZ_TAGS = {"tag": 0x0A, "size": 15, "tx": 0x0D, "ty": 0x15, "tz": 0x1D}


def landmarks_xy(landmark_list: Any) -> np.ndarray:
    """The (x, y) of every point of a MediaPipe `NormalizedLandmarkList`, float64 [N, 2] in units of the frame.

    Reads the message's wire bytes with one numpy view when every point holds exactly x, y and z (FaceMesh's
    478: 0.01 instead of 0.2 ms a face for the attribute loop); otherwise (other fields set) reads the points.
    """
    raw = landmark_list.SerializeToString()
    n = len(landmark_list.landmark)
    if len(raw) == n * _XYZ_POINT.itemsize:
        points = np.frombuffer(raw, _XYZ_POINT)
        if all(np.all(points[field] == value) for field, value in _XYZ_TAGS.items()):
            return np.stack([points["x"], points["y"]], axis=1).astype(np.float64)
    return np.array([(p.x, p.y) for p in landmark_list.landmark], np.float64).reshape(n, 2)


def grid_indices(n_frames: int, fps: float, grid_fps: float, max_frames: int) -> np.ndarray:
    """Frames at about `grid_fps` spread over the clip (segment centres), at most `max_frames`."""
    if n_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    k = max(1, math.ceil(n_frames * grid_fps / fps)) if fps > 0 else max_frames
    return spread_indices(n_frames, min(k, max_frames))


def detection_frames(n_frames: int, fps: float, k: int, grid_fps: float = DETECTION_GRID_FPS,
                     max_frames: int = 50) -> np.ndarray:
    """`k` frames spread over the detection grid (`grid_indices`), so that scorers share detections.

    Args:
        n_frames: frames in the clip.
        fps: clip frame rate in Hz.
        k: frames wanted; fewer when the grid is smaller.
        grid_fps: grid rate in Hz; equal to the pose scorer's `sample_fps` for the sharing to happen.
        max_frames: the grid's cap (the pose scorer's `max_frames`).
    """
    grid = grid_indices(n_frames, fps, grid_fps, max_frames)
    return grid[spread_indices(len(grid), k)]


def close_all() -> None:
    """Release every shared graph and tracker (they hold threads and buffers)."""
    for graphs in (_GRAPHS, _TRACKERS):
        while graphs:
            _, graph = graphs.popitem()
            graph.close()
