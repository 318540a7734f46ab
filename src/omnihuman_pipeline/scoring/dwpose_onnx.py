"""DWPose whole-body keypoints through onnxruntime: the official two-model procedure, in numpy.

Follows the DWPose ControlNet annotator (`annotator/dwpose/{onnxdet,onnxpose,wholebody}.py`, IDEA-Research/DWPose)
and rtmlib, which share it:

1. detector `yolox_l.onnx`: letterbox to 640x640 (top-left aligned, pad 114), raw 0-255 pixels, input "input"
   [1, 3, 640, 640] -> [1, 8400, 85] = (dx, dy, log w, log h) per anchor of the stride 8/16/32 grids, then the
   objectness and 80 class probabilities; decoded with the grids, person scores = obj * cls0, NMS 0.45 over
   scores > 0.1, persons kept above 0.3.
2. pose `dw-ll_ucoco_384.onnx`: each person box -> centre and scale x1.25, widened to the 288:384 aspect, affine
   crop to 288x384 (w x h), normalised with the ImageNet mean/std, input [1, 3, 384, 288] -> SimCC outputs
   `simcc_x` [1, 133, 576] and `simcc_y` [1, 133, 768] (split ratio 2: two bins per pixel).
3. keypoint = argmax bin / 2 in crop pixels, mapped back to the image; score = min of the two maxima;
   133 COCO-WholeBody points: body 0-16, feet 17-22, face 23-90, left hand 91-111, right hand 112-132.

Colour order: YOLOX was trained on BGR and RTMPose (mmpose `bgr_to_rgb=True`) on RGB, so the detector gets BGR
and the pose model RGB. The ControlNet annotator feeds its RGB input to both; the boxes barely change.
When the detector finds nobody the annotator poses the whole image as one box; here the image has no person
(visibility is measured, and a whole-image "person" would invent one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

DET_INPUT_HW = (640, 640)
DET_STRIDES = (8, 16, 32)
DET_PAD_VALUE = 114
DET_SCORE_THR = 0.1  # candidates entering NMS (onnxdet.py)
DET_NMS_THR = 0.45
DET_KEEP_THR = 0.3  # persons kept after NMS (onnxdet.py)
POSE_INPUT_WH = (288, 384)
POSE_BOX_PADDING = 1.25
POSE_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)  # RGB
POSE_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)
SIMCC_SPLIT_RATIO = 2.0
N_WHOLEBODY = 133

# COCO-17 body -> OpenPose-18 (index 1, the neck, is the shoulders' midpoint), as wholebody.py reorders it
COCO17_TO_OPENPOSE18 = [0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]
WHOLEBODY_FEET = slice(17, 23)
WHOLEBODY_FACE = slice(23, 91)
WHOLEBODY_LEFT_HAND = slice(91, 112)
WHOLEBODY_RIGHT_HAND = slice(112, 133)


# --- 1. person detector (YOLOX) ---------------------------------------------------------------


def letterbox(image: np.ndarray, input_hw: tuple[int, int] = DET_INPUT_HW) -> tuple[np.ndarray, float]:
    """YOLOX input: resized by one ratio into the top-left corner of a 114-grey canvas.

    Args:
        image: uint8 [H, W, 3] in the order the detector was trained on (BGR).
        input_hw: canvas (height, width).

    Returns:
        (float32 [3, h, w] with raw 0-255 values, the resize ratio).
    """
    import cv2

    h, w = image.shape[:2]
    ratio = min(input_hw[0] / h, input_hw[1] / w)
    nh, nw = int(h * ratio), int(w * ratio)
    canvas = np.full((*input_hw, 3), DET_PAD_VALUE, dtype=np.uint8)
    canvas[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(canvas.transpose(2, 0, 1), dtype=np.float32), ratio


def yolox_decode(raw: np.ndarray, input_hw: tuple[int, int] = DET_INPUT_HW) -> np.ndarray:
    """Grid-decode YOLOX's raw head output (exported with `decode_in_inference=False`).

    Args:
        raw: [A, 5 + C] per anchor (dx, dy, log w, log h, obj, cls...), anchors ordered stride 8, 16, 32, row-major.

    Returns:
        [A, 5 + C] with (cx, cy, w, h) in canvas pixels; probabilities untouched.
    """
    grids, strides = [], []
    for stride in DET_STRIDES:
        hs, ws = input_hw[0] // stride, input_hw[1] // stride
        xv, yv = np.meshgrid(np.arange(ws), np.arange(hs))
        grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
        strides.append(np.full((hs * ws, 1), stride))
    grid, stride = np.concatenate(grids), np.concatenate(strides)
    out = raw.astype(np.float32).copy()
    out[:, :2] = (out[:, :2] + grid) * stride
    out[:, 2:4] = np.exp(out[:, 2:4]) * stride
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    """Greedy NMS as in the YOLOX demo (areas with the +1 pixel convention); indices kept, best first."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        xx1, yy1 = np.maximum(x1[i], x1[order[1:]]), np.maximum(y1[i], y1[order[1:]])
        xx2, yy2 = np.minimum(x2[i], x2[order[1:]]), np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        iou = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[1:][iou <= thr]
    return keep


def person_boxes(
    raw: np.ndarray, ratio: float, input_hw: tuple[int, int] = DET_INPUT_HW
) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes in image pixels from the detector output.

    Args:
        raw: [A, 85] (one image of the [1, A, 85] output).
        ratio: from `letterbox`.

    Returns:
        (float32 [N, 4] xyxy, float32 [N] scores), best first. Class-aware NMS of the reference code restricted
        to class 0, which is the same thing for persons.
    """
    pred = yolox_decode(raw, input_hw)
    cx, cy, w, h = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1) / ratio
    scores = pred[:, 4] * pred[:, 5]
    valid = scores > DET_SCORE_THR
    boxes, scores = boxes[valid], scores[valid]
    keep = [i for i in nms(boxes, scores, DET_NMS_THR) if scores[i] > DET_KEEP_THR]
    return boxes[keep].astype(np.float32).reshape(-1, 4), scores[keep].astype(np.float32)


# --- 2. top-down crop (RTMPose) ---------------------------------------------------------------


def box_center_scale(box: np.ndarray, padding: float = POSE_BOX_PADDING) -> tuple[np.ndarray, np.ndarray]:
    """xyxy box -> (centre [2], scale [2] = padded width and height), as `bbox_xyxy2cs`."""
    x1, y1, x2, y2 = np.asarray(box, dtype=np.float64)
    return np.array([x1 + x2, y1 + y2]) * 0.5, np.array([x2 - x1, y2 - y1]) * padding


def fix_aspect_ratio(scale: np.ndarray, aspect: float) -> np.ndarray:
    """Grow the shorter side of `scale` (w, h) so that w / h == aspect."""
    w, h = scale
    return np.array([w, w / aspect]) if w > h * aspect else np.array([h * aspect, h])


def warp_matrix(center: np.ndarray, scale: np.ndarray, output_wh: tuple[int, int]) -> np.ndarray:
    """2x3 affine (no rotation) taking the box of `scale` around `center` onto the output canvas.

    Built from three point pairs like mmpose's `get_warp_matrix(rot=0)`: the centre, a point half the width
    above it, and a third point perpendicular to those.
    """
    import cv2

    dst_w, dst_h = output_wh
    src_dir, dst_dir = np.array([0.0, scale[0] * -0.5]), np.array([0.0, dst_w * -0.5])
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0], src[1] = center, center + src_dir
    dst[0], dst[1] = [dst_w * 0.5, dst_h * 0.5], np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir
    for pts in (src, dst):
        d = pts[0] - pts[1]
        pts[2] = pts[1] + np.array([-d[1], d[0]])
    return cv2.getAffineTransform(src, dst)


def crop_person(
    image: np.ndarray, box: np.ndarray, input_wh: tuple[int, int] = POSE_INPUT_WH
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pose-model input for one person.

    Args:
        image: uint8 RGB [H, W, 3].
        box: xyxy in image pixels.

    Returns:
        (float32 [3, h, w] normalised crop, centre [2], scale [2] after the aspect fix), the last two for
        `to_image_coords`.
    """
    import cv2

    center, scale = box_center_scale(box)
    scale = fix_aspect_ratio(scale, input_wh[0] / input_wh[1])
    crop = cv2.warpAffine(image, warp_matrix(center, scale, input_wh), input_wh, flags=cv2.INTER_LINEAR)
    crop = (crop.astype(np.float32) - POSE_MEAN) / POSE_STD
    return np.ascontiguousarray(crop.transpose(2, 0, 1)), center, scale


# --- 3. SimCC decoding ------------------------------------------------------------------------


def simcc_decode(
    simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float = SIMCC_SPLIT_RATIO
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints in crop pixels from SimCC classification vectors (`get_simcc_maximum` + `decode`).

    Args:
        simcc_x: [N, K, Wx] (Wx = crop width * split_ratio).
        simcc_y: [N, K, Hy].

    Returns:
        (float32 [N, K, 2] argmax bin / split_ratio, -1 where the score is <= 0; float32 [N, K] scores = the
        smaller of the two maxima).
    """
    n, k, _ = simcc_x.shape
    sx, sy = simcc_x.reshape(n * k, -1), simcc_y.reshape(n * k, -1)
    locs = np.stack([sx.argmax(1), sy.argmax(1)], -1).astype(np.float32)
    vals = np.minimum(sx.max(1), sy.max(1)).astype(np.float32)
    locs[vals <= 0.0] = -1
    return locs.reshape(n, k, 2) / np.float32(split_ratio), vals.reshape(n, k)


def to_image_coords(
    locs: np.ndarray, input_wh: tuple[int, int], center: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """Crop pixels -> image pixels: `locs / input_size * scale + center - scale / 2`."""
    return locs / np.asarray(input_wh, np.float32) * scale + center - scale / 2


# --- 4. layout --------------------------------------------------------------------------------


def wholebody_to_openpose(keypoints: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """Split COCO-WholeBody-133 into the parts the DWPose renderer draws.

    Args:
        keypoints: [..., 133, 2]; scores: [..., 133].

    Returns:
        {"body": [..., 18, 3] OpenPose-18, "feet": [..., 6, 3], "face": [..., 68, 3], "hands": [..., 2, 21, 3]
        (person's left, right)}, each (x, y, score). The neck is the shoulders' midpoint with the smaller
        shoulder score (the annotator stores a 0/1 flag there; a score keeps thresholds uniform).
    """
    pts = np.concatenate([keypoints, scores[..., None]], -1).astype(np.float32)
    body = pts[..., [max(i, 0) for i in COCO17_TO_OPENPOSE18], :].copy()
    body[..., 1, :2] = pts[..., [5, 6], :2].mean(-2)
    body[..., 1, 2] = pts[..., [5, 6], 2].min(-1)
    hands = np.stack([pts[..., WHOLEBODY_LEFT_HAND, :], pts[..., WHOLEBODY_RIGHT_HAND, :]], -3)
    return {
        "body": body,
        "feet": pts[..., WHOLEBODY_FEET, :],
        "face": pts[..., WHOLEBODY_FACE, :],
        "hands": hands,
    }


@dataclass(frozen=True)
class WholeBody:
    """Persons found in one image: boxes [N, 4] xyxy px, box scores [N], keypoints [N, 133, 2] px, scores [N, 133]."""

    boxes: np.ndarray
    box_scores: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray


class DWPoseOnnx:
    """The two DWPose ONNX sessions; `__call__` runs the whole procedure on one RGB image.

    Args:
        det_path: `yolox_l.onnx`.
        pose_path: `dw-ll_ucoco_384.onnx`.
        providers: onnxruntime execution providers; default CPU.
    """

    def __init__(
        self, det_path: str | os.PathLike, pose_path: str | os.PathLike, providers: list[str] | None = None
    ):
        import onnxruntime as ort

        providers = providers or ["CPUExecutionProvider"]
        self.det = ort.InferenceSession(str(det_path), providers=providers)
        self.pose = ort.InferenceSession(str(pose_path), providers=providers)
        self.det_hw = tuple(_static(self.det.get_inputs()[0].shape[2:], DET_INPUT_HW))
        h, w = _static(self.pose.get_inputs()[0].shape[2:], POSE_INPUT_WH[::-1])
        self.pose_wh = (w, h)
        self._det_input, self._pose_input = self.det.get_inputs()[0].name, self.pose.get_inputs()[0].name
        names = [o.name for o in self.pose.get_outputs()]
        self._simcc = ["simcc_x", "simcc_y"] if {"simcc_x", "simcc_y"} <= set(names) else names[:2]

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes (xyxy px) and scores in a uint8 RGB image [H, W, 3]."""
        canvas, ratio = letterbox(np.ascontiguousarray(rgb[..., ::-1]), self.det_hw)
        raw = self.det.run(None, {self._det_input: canvas[None]})[0][0]
        return person_boxes(raw, ratio, self.det_hw)

    def keypoints(self, rgb: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """133 keypoints (px) and scores per box: ([N, 133, 2], [N, 133]); one session run per person."""
        kpts, scores = [], []
        for box in boxes:
            crop, center, scale = crop_person(rgb, box, self.pose_wh)
            sx, sy = self.pose.run(self._simcc, {self._pose_input: crop[None]})
            locs, vals = simcc_decode(sx, sy)
            kpts.append(to_image_coords(locs[0], self.pose_wh, center, scale))
            scores.append(vals[0])
        if not kpts:
            return np.zeros((0, N_WHOLEBODY, 2), np.float32), np.zeros((0, N_WHOLEBODY), np.float32)
        return np.stack(kpts).astype(np.float32), np.stack(scores).astype(np.float32)

    def __call__(self, rgb: np.ndarray) -> WholeBody:
        boxes, box_scores = self.detect(rgb)
        kpts, scores = self.keypoints(rgb, boxes)
        return WholeBody(boxes, box_scores, kpts, scores)


def _static(dims, default) -> list[int]:
    """Input height/width from the model when static, else the reference size (dynamic axes are strings)."""
    return [d if isinstance(d, int) and d > 0 else f for d, f in zip(dims, default, strict=True)]
