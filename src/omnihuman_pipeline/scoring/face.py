"""How many faces a clip shows and how large the main one is (paper §3.3: audio-conditioned training wants one
dominant speaking face, so multi-person clips are not A-eligible; captions take the shot type from face size).

Signal "face", backend "mediapipe": BlazeFace short-range (faces within ~2 m) and full-range (further people)
on `n_frames` frames spread over the 2 fps detection grid (`scoring._mediapipe`, shared with person and pose). Both models run on every sampled frame and their boxes are merged
(IoU >= `merge_iou` is one face, the higher score kept), so a close and a distant face in one frame are both
counted. Detections are filtered by score here: MediaPipe 0.10.14 returns boxes below its own threshold.

Manifest columns (the registry prefixes extras with "face_"):

- `face` = `face_count`: the lower median of the per-frame face counts (an integer even for an even number of
  frames).
- `face_count_max`: the most faces in any sampled frame.
- `face_area`: median over frames with a face of the largest box's share of the frame area (0 when none).
- `face_height`: the same for the largest box's height as a share of the frame height (shot type: it does not
  depend on the aspect ratio).
- `face_frames`: share of sampled frames with at least one face.
- `face_dominant`: a frame is *dominated* when it shows exactly one face, or its largest face is at least
  `dominant_ratio` times the area of the second (a speaker with small faces in the background). The clip has a
  dominant face when at least `dominant_share` of its sampled frames are dominated; no face is never dominant.
- `face_n_frames`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from omnihuman_pipeline.scoring import _mediapipe
from omnihuman_pipeline.scoring._mediapipe import FULL_RANGE, SHORT_RANGE
from omnihuman_pipeline.scoring.base import AnalysisClip, Score


@dataclass(frozen=True)
class FaceBox:
    """One face: box (x0, y0, x1, y1) as frame fractions clipped to the frame, and the detector score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)

    @property
    def height(self) -> float:
        return max(0.0, self.y1 - self.y0)


def boxes_from_result(result: Any, min_score: float) -> list[FaceBox]:
    """Boxes of a MediaPipe FaceDetection result scoring >= `min_score`."""
    boxes = []
    for det in result.detections or []:
        score = float(det.score[0]) if det.score else 0.0
        if score < min_score:
            continue
        b = det.location_data.relative_bounding_box
        x0, y0 = min(1.0, max(0.0, b.xmin)), min(1.0, max(0.0, b.ymin))
        x1, y1 = min(1.0, max(0.0, b.xmin + b.width)), min(1.0, max(0.0, b.ymin + b.height))
        boxes.append(FaceBox(x0, y0, x1, y1, score))
    return boxes


def iou(a: FaceBox, b: FaceBox) -> float:
    """Intersection over union of two boxes."""
    w = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    h = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = w * h
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def merge_boxes(boxes: list[FaceBox], min_iou: float) -> list[FaceBox]:
    """One box per face from the union of both models' boxes: greedy by score, overlaps >= `min_iou` dropped."""
    kept: list[FaceBox] = []
    for box in sorted(boxes, key=lambda b: -b.score):
        if all(iou(box, k) < min_iou for k in kept):
            kept.append(box)
    return kept


def is_dominated(areas: list[float], ratio: float) -> bool:
    """One face, or the largest at least `ratio` times the second largest (see the module docstring)."""
    if not areas:
        return False
    if len(areas) == 1:
        return True
    first, second = sorted(areas, reverse=True)[:2]
    return first >= ratio * second


def summarise(frames: list[list[FaceBox]], *, dominant_share: float, dominant_ratio: float) -> Score:
    """Clip-level face score from the faces of each sampled frame (backend "mediapipe")."""
    counts = np.array([len(f) for f in frames])
    count = int(np.sort(counts)[(len(counts) - 1) // 2])
    with_face = [f for f in frames if f]
    largest = [max(f, key=lambda b: b.area) for f in with_face]
    dominated = [is_dominated([b.area for b in f], dominant_ratio) for f in frames]
    extra = {
        "count": count,
        "count_max": int(counts.max()),
        "area": float(np.median([b.area for b in largest])) if largest else 0.0,
        "height": float(np.median([b.height for b in largest])) if largest else 0.0,
        "frames": float(np.mean(counts > 0)),
        "dominant": bool(np.mean(dominated) >= dominant_share),
        "n_frames": len(frames),
    }
    return Score(float(count), "mediapipe", None, extra)


@dataclass
class MediaPipeFaces:
    """Face count and size on MediaPipe 0.10.14 legacy FaceDetection (both BlazeFace models ship in the wheel).

    Attributes:
        n_frames: frames checked per clip (~11 ms each for both models at 256 px), spread over the detection grid.
        grid_fps: rate of the detection grid (the pose scorer's `sample_fps`, so detections are shared).
        max_grid_frames: cap on the grid (the pose scorer's `max_frames`).
        min_confidence: detection score threshold. Measured: real faces 0.79-0.96 (short range), 0.81-0.91 (full
            range); cat faces and textures 0.50-0.59, hence 0.7.
        full_range: also run the full-range model (faces further than ~2 m).
        merge_iou: boxes of the two models overlapping this much are one face.
        dominant_share: share of dominated frames for `dominant`.
        dominant_ratio: largest / second-largest face area that still dominates a frame.
    """

    signal: ClassVar[str] = "face"
    backend: ClassVar[str] = "mediapipe"

    n_frames: int = 8
    grid_fps: float = _mediapipe.DETECTION_GRID_FPS
    max_grid_frames: int = 50
    min_confidence: float = 0.7
    full_range: bool = True
    merge_iou: float = 0.3
    dominant_share: float = 0.8
    dominant_ratio: float = 4.0

    def setup(self) -> None:
        """Build the graphs now rather than on the first clip."""
        for selection in (SHORT_RANGE, FULL_RANGE) if self.full_range else (SHORT_RANGE,):
            _mediapipe.solution("face_detection", **_mediapipe.face_detection_options(selection))

    def close(self) -> None:
        """Release the shared MediaPipe graphs."""
        _mediapipe.close_all()

    def detect(self, clip: AnalysisClip, index: int) -> list[FaceBox]:
        """Faces in frame `index` of `clip`, largest first (detections shared through `clip.memo`)."""
        boxes: list[FaceBox] = []
        for selection in (SHORT_RANGE, FULL_RANGE) if self.full_range else (SHORT_RANGE,):
            boxes += boxes_from_result(_mediapipe.face_detection(clip, index, selection), self.min_confidence)
        return sorted(merge_boxes(boxes, self.merge_iou), key=lambda b: -b.area)

    def score(self, clip: AnalysisClip) -> Score:
        idx = _mediapipe.detection_frames(len(clip.frames), clip.fps, self.n_frames, self.grid_fps,
                                          self.max_grid_frames)
        if len(idx) == 0:
            return Score.failed(self.backend, "too_short")
        return summarise(
            [self.detect(clip, i) for i in idx],
            dominant_share=self.dominant_share,
            dominant_ratio=self.dominant_ratio,
        )


FACE_BACKENDS: dict[str, type] = {"mediapipe": MediaPipeFaces}
