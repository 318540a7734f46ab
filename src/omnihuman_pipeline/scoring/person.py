"""Person present (paper §3.3: T-eligible clips show a human), from MediaPipe face detection and pose.

Per sampled frame: BlazeFace short-range (faces within ~2 m), then full-range when the short-range model finds
nothing (people further away); a frame without a face is checked with MediaPipe Pose, which also finds people
seen from behind or too small for the face models. Pose runs only on face-less frames because it costs ~4x a
face detection and adds nothing for a talking head.

Known limit (measured on the corpus): both MediaPipe detectors miss a person whose colours are far from
natural, e.g. the astronaut with hue rotated by 120 degrees (blue skin) scores 0.2.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from omnihuman_pipeline.scoring._frames import spread_indices
from omnihuman_pipeline.scoring.base import AnalysisClip, Score

SHORT_RANGE, FULL_RANGE = 0, 1  # mediapipe FaceDetection model_selection
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


def face_boxes(result: Any, min_score: float = 0.0) -> list[float]:
    """Areas (frame fractions, clipped to the frame) of the boxes in a FaceDetection result.

    MediaPipe 0.10.14's legacy FaceDetection returns detections below its own
    `min_detection_confidence` (seen: 0.53-0.56 with the threshold at 0.7), so the score is
    checked here.
    """
    areas = []
    for det in result.detections or []:
        if det.score and det.score[0] < min_score:
            continue
        box = det.location_data.relative_bounding_box
        x0, y0 = max(0.0, box.xmin), max(0.0, box.ymin)
        x1, y1 = min(1.0, box.xmin + box.width), min(1.0, box.ymin + box.height)
        areas.append(max(0.0, x1 - x0) * max(0.0, y1 - y0))
    return areas


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
        n_frames: frames checked per clip; the value is the share of them showing a person.
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
    min_face_confidence: float = 0.7
    full_range: bool = True
    use_pose: bool = True
    min_pose_visibility: float = 0.5
    min_pose_detection: float = 0.5
    _models: dict[str, Any] | None = field(default=None, init=False, repr=False)

    def setup(self) -> None:
        if self._models is not None:
            return
        import mediapipe as mp

        fd = mp.solutions.face_detection
        self._models = {
            "short": fd.FaceDetection(
                model_selection=SHORT_RANGE, min_detection_confidence=self.min_face_confidence
            )
        }
        if self.full_range:
            self._models["full"] = fd.FaceDetection(
                model_selection=FULL_RANGE, min_detection_confidence=self.min_face_confidence
            )
        if self.use_pose:
            # static_image_mode: sampled frames are far apart, tracking between them would only mislead
            self._models["pose"] = mp.solutions.pose.Pose(
                static_image_mode=True, model_complexity=1, min_detection_confidence=self.min_pose_detection
            )

    def close(self) -> None:
        """Release the MediaPipe graphs (they hold threads and buffers)."""
        for model in (self._models or {}).values():
            model.close()
        self._models = None

    def detect(self, frame: np.ndarray) -> FramePerson:
        """Run the detectors on one uint8 RGB frame [H, W, 3]."""
        self.setup()
        with warnings.catch_warnings():
            # mediapipe 0.10.14 calls a protobuf API deprecated in protobuf 4.25 on every `process()`
            warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")
            return self._detect(np.ascontiguousarray(frame))

    def _detect(self, frame: np.ndarray) -> FramePerson:
        areas = face_boxes(self._models["short"].process(frame), self.min_face_confidence)
        if not areas and "full" in self._models:
            areas = face_boxes(self._models["full"].process(frame), self.min_face_confidence)
        visibility = float("nan")
        if not areas and "pose" in self._models:
            pose = self._models["pose"].process(frame)
            if pose.pose_landmarks is not None:
                visibility = float(np.mean([pose.pose_landmarks.landmark[i].visibility for i in UPPER_BODY]))
        return FramePerson(len(areas), max(areas, default=0.0), visibility)

    def score(self, clip: AnalysisClip) -> Score:
        idx = spread_indices(len(clip.frames), self.n_frames)
        if len(idx) == 0:
            return Score.failed(self.backend, "too_short")
        return summarise([self.detect(clip.frames[i]) for i in idx], self.min_pose_visibility)


PERSON_BACKENDS: dict[str, type] = {"mediapipe": MediaPipePerson}
