"""Person present (paper §3.3: T-eligible clips show a human), from MediaPipe face detection and pose.

Per sampled frame: BlazeFace short-range (faces within ~2 m), then full-range when the short-range model finds
nothing (people further away); a frame without a face is checked with MediaPipe Pose, which also finds people
seen from behind or too small for the face models. Pose runs only on face-less frames because it costs ~4x a
face detection and adds nothing for a talking head.

The frames are `n_frames` of the 2 fps detection grid and the detections go through `scoring._mediapipe`, so with
face and pose scoring too, this scorer mostly reuses their detections.

Known limit (measured on the corpus): both MediaPipe detectors miss a person whose colours are far from
natural, e.g. the astronaut with hue rotated by 120 degrees (blue skin) scores 0.2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from omnihuman_pipeline.scoring import _mediapipe
from omnihuman_pipeline.scoring._mediapipe import FULL_RANGE, SHORT_RANGE
from omnihuman_pipeline.scoring.base import AnalysisClip, Score
from omnihuman_pipeline.scoring.face import boxes_from_result

UPPER_BODY = list(range(13))  # pose landmarks 0-12: face points and shoulders, visible in any framing


@dataclass(frozen=True)
class FramePerson:
    """What the detectors saw in one frame."""

    faces: int
    largest_face_area: float  # share of the frame covered by the largest face box, 0-1
    pose_visibility: float  # mean visibility of the upper-body landmarks, NaN when pose did not run/find one

    def has_person(self, min_pose_visibility: float) -> bool:
        return self.faces > 0 or (
            not np.isnan(self.pose_visibility) and self.pose_visibility >= min_pose_visibility
        )


def summarise(frames: list[FramePerson], min_pose_visibility: float) -> Score:
    """Clip-level person score from per-frame detections (backend "mediapipe")."""
    present = [f.has_person(min_pose_visibility) for f in frames]
    return Score(
        float(np.mean(present)),
        "mediapipe",
        None,
        {
            "face_count": int(max(f.faces for f in frames)),
            "face_area": float(max(f.largest_face_area for f in frames)),
            "face_share": float(np.mean([f.faces > 0 for f in frames])),
            "n_frames": len(frames),
        },
    )


@dataclass
class MediaPipePerson:
    """Person scorer on MediaPipe 0.10.14 legacy solutions (FaceDetection + Pose; models ship in the wheel).

    Attributes:
        n_frames: frames checked per clip, spread over the detection grid; the value is the share of them
            showing a person. Its Pose fallback runs on grid frames, which the pose scorer reuses.
        grid_fps: rate of the detection grid (the pose scorer's `sample_fps`, so Pose results are shared).
        max_grid_frames: cap on the grid (the pose scorer's `max_frames`).
        min_face_confidence: FaceDetection score threshold. Measured on the test corpus: real faces
            score 0.79-0.96, cat faces and textures 0.50-0.59 (MediaPipe's own default, 0.5, lets
            them through), hence 0.7.
        full_range: also try the full-range face model on frames where the short-range one finds nothing.
        use_pose: check face-less frames with Pose.
        min_pose_visibility: mean upper-body landmark visibility that counts as a person.
        min_pose_detection: Pose's person-detector threshold; below 0.5 it finds "bodies" in cups
            and cats and then reports high landmark visibility for them.
    """

    signal: ClassVar[str] = "person"
    backend: ClassVar[str] = "mediapipe"

    n_frames: int = 5
    grid_fps: float = _mediapipe.DETECTION_GRID_FPS
    max_grid_frames: int = 50
    min_face_confidence: float = 0.7
    full_range: bool = True
    use_pose: bool = True
    min_pose_visibility: float = 0.5
    min_pose_detection: float = 0.5

    def setup(self) -> None:
        """Build the graphs now rather than on the first clip."""
        for selection in (SHORT_RANGE, FULL_RANGE) if self.full_range else (SHORT_RANGE,):
            _mediapipe.solution("face_detection", **_mediapipe.face_detection_options(selection))
        if self.use_pose:
            _mediapipe.solution("pose", **_mediapipe.pose_options(self.min_pose_detection))

    def close(self) -> None:
        """Release the shared MediaPipe graphs (they hold threads and buffers)."""
        _mediapipe.close_all()

    def detect(self, clip: AnalysisClip, index: int) -> FramePerson:
        """Run the detectors on frame `index` of `clip` (shared with other scorers through `clip.memo`)."""
        boxes = boxes_from_result(_mediapipe.face_detection(clip, index, SHORT_RANGE), self.min_face_confidence)
        if not boxes and self.full_range:
            boxes = boxes_from_result(_mediapipe.face_detection(clip, index, FULL_RANGE), self.min_face_confidence)
        visibility = float("nan")
        if not boxes and self.use_pose:
            landmarks = _mediapipe.pose_landmarks(clip, index, self.min_pose_detection)
            if landmarks is not None:
                visibility = float(np.mean([landmarks.landmark[i].visibility for i in UPPER_BODY]))
        return FramePerson(len(boxes), max((b.area for b in boxes), default=0.0), visibility)

    def score(self, clip: AnalysisClip) -> Score:
        idx = _mediapipe.detection_frames(len(clip.frames), clip.fps, self.n_frames, self.grid_fps,
                                          self.max_grid_frames)
        if len(idx) == 0:
            return Score.failed(self.backend, "too_short")
        return summarise([self.detect(clip, i) for i in idx], self.min_pose_visibility)


PERSON_BACKENDS: dict[str, type] = {"mediapipe": MediaPipePerson}
