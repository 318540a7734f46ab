"""Tests of the pose scorers: MediaPipe on real photos and video, the DWPose ONNX procedure with random models."""

import math

import numpy as np
import pytest
import skimage.data

from omnihuman_pipeline.corpus.synth import drawn_hand
from omnihuman_pipeline.scoring import dwpose_onnx as dw
from omnihuman_pipeline.scoring._frames import resize_short_side
from omnihuman_pipeline.scoring.base import AnalysisClip
from omnihuman_pipeline.scoring.pose import (
    LEFT,
    OPENPOSE18,
    RIGHT,
    DWPose,
    MediaPipePose,
    assign_hand_sides,
    empty_points,
    hand_share,
    sample_indices,
    to_openpose18,
    visible_share,
)
from omnihuman_pipeline.weights import WeightsNotFoundError


def _still(image: np.ndarray, n: int = 10) -> AnalysisClip:
    return AnalysisClip(frames=np.stack([image] * n), fps=25.0)


@pytest.fixture(scope="module")
def scorer():
    pytest.importorskip("mediapipe")
    s = MediaPipePose(sample_fps=5.0)  # 2 of the 10 frames of a still
    s.setup()
    yield s
    s.close()


def test_astronaut_upper_body_visible_no_hands(scorer, astronaut):
    """The astronaut (head to waist, gloved hand out of view): pose visible in every frame, no hand, not full body."""
    score = scorer.score(_still(resize_short_side(astronaut, 256)))
    assert score.backend == "mediapipe" and score.value == 1.0 and score.extra["visibility"] == 1.0
    assert score.extra["hand_visibility"] == 0.0 and score.extra["full_body"] == 0.0
    body = score.arrays["body"]
    assert body.shape == (2, 18, 3) and body.dtype == np.float32
    nose, l_sh, r_sh = (body[0, OPENPOSE18.index(n)] for n in ("nose", "left_shoulder", "right_shoulder"))
    assert 0.3 < nose[0] < 0.6 and 0.1 < nose[1] < 0.4 and nose[2] > 0.9  # face at the upper middle
    assert r_sh[0] < nose[0] < l_sh[0]  # facing the camera: her right shoulder is on the image's left
    np.testing.assert_allclose(body[0, 1, :2], (l_sh[:2] + r_sh[:2]) / 2, atol=1e-6)
    assert (
        np.isnan(score.arrays["hands"]).sum() == 2 * 2 * 21 * 2 and (score.arrays["hands"][..., 2] == 0).all()
    )


@pytest.mark.parametrize("name", ["coffee", "chelsea"])
def test_no_pose_in_coffee_or_cat(scorer, name):
    """A cup and a cat: no body (all keypoints absent), no hands."""
    score = scorer.score(_still(resize_short_side(getattr(skimage.data, name)(), 256)))
    assert score.value == 0.0 and score.extra["hand_visibility"] == 0.0
    assert np.isnan(score.arrays["body"][..., :2]).all() and (score.arrays["body"][..., 2] == 0).all()


def test_drawn_hand_is_a_visible_hand():
    """A drawn open hand on grey, Hands on every frame: a hand in every sampled frame, 21 points inside; no body."""
    score = MediaPipePose(sample_fps=5.0, hands_with_body_only=False).score(_still(drawn_hand()))
    assert score.extra["hand_visibility"] == 1.0 and score.value == 0.0
    hands = score.arrays["hands"]
    found = np.isfinite(hands[..., 0]).all(-1)  # [T', 2]
    assert (found.sum(1) == 1).all()
    xy = hands[found][..., :2]
    assert ((xy > 0.05) & (xy < 0.95)).all() and (hands[found][..., 2] == 1.0).all()


def test_hands_need_a_body_by_default(scorer):
    """The default looks for the person's hands only where Pose found a person: a hand alone is not counted."""
    score = scorer.score(_still(drawn_hand()))
    assert score.extra["hand_visibility"] == 0.0 and np.isnan(score.arrays["hands"][..., 0]).all()


def test_hands_run_only_where_a_pose_wrist_is_visible_in_view(carphone_clip, graph_calls):
    """Holistic's trigger (a wrist visibility of 0.1) and the wrist inside the frame: the carphone driver is framed
    at the chest, so Hands runs on the 7 of 20 samples with a visible wrist under the visibility trigger alone, on
    none once the wrist must be in view, on all 20 with no trigger, and finds nothing either way."""
    calls = graph_calls

    def run(**trigger) -> tuple[int, object]:  # stateless: one Pose run a frame, on a fresh clip
        before = calls.count("hands")
        score = MediaPipePose(sample_fps=5.0, track=False, **trigger).score(
            AnalysisClip(carphone_clip.frames, carphone_clip.fps))
        return calls.count("hands") - before, score

    (in_view, gated), (visible, by_visibility), (every, ungated) = (
        run(), run(wrist_frame_margin=None), run(wrist_frame_margin=None, min_wrist_visibility=0.0))
    wrists = gated.arrays["body"][:, [OPENPOSE18.index("right_wrist"), OPENPOSE18.index("left_wrist")], 2]
    assert calls.count("pose") == 60 and every == 20 and 0 < visible == int((wrists.max(1) >= 0.1).sum()) < 10
    assert in_view == 0
    for other in (by_visibility, ungated):
        assert gated.extra == other.extra
        assert np.array_equal(gated.arrays["hands"], other.arrays["hands"], equal_nan=True)


def test_wrist_in_view():
    """A wrist counts when visible enough and inside the frame widened by the margin; None: anywhere."""
    from types import SimpleNamespace

    from omnihuman_pipeline.scoring.pose import MP_WRISTS, wrist_in_view

    def pose(x, y, visibility):
        points = [SimpleNamespace(x=0.5, y=0.5, visibility=0.0) for _ in range(33)]
        points[MP_WRISTS[1]] = SimpleNamespace(x=x, y=y, visibility=visibility)
        return SimpleNamespace(landmark=points)

    assert wrist_in_view(pose(0.5, 0.9, 0.3), 0.1, 0.1)
    assert wrist_in_view(pose(1.08, -0.05, 0.3), 0.1, 0.1)
    assert not wrist_in_view(pose(0.5, 1.2, 0.9), 0.1, 0.1)  # below the frame: a chest-framed speaker's wrist
    assert not wrist_in_view(pose(0.5, 0.9, 0.05), 0.1, 0.1)
    assert wrist_in_view(pose(0.5, 1.2, 0.9), 0.1, None)


def test_hand_moving_out_of_the_frame(astronaut):
    """The raised hand of the corpus moved down in steps of 5 % of the frame: Hands finds it while it is in the
    picture and loses it once its palm leaves (4 of 9 steps); the in-view trigger gives the same hands as running
    Hands on every frame with a body."""
    from omnihuman_pipeline.corpus.synth import with_hand

    frame = with_hand(resize_short_side(astronaut, 256)[None])[0]
    steps = []
    for shift in np.arange(9) * 0.05:
        px = int(round(shift * frame.shape[0]))
        moved = np.roll(frame, px, axis=0)
        moved[:px] = frame[:1]
        steps.append(moved)
    clip = np.stack(steps)
    gated = MediaPipePose(sample_fps=9.0, track=False).score(AnalysisClip(clip, fps=9.0))
    every = MediaPipePose(sample_fps=9.0, track=False, wrist_frame_margin=None, min_wrist_visibility=0.0).score(
        AnalysisClip(clip, fps=9.0))
    found = np.isfinite(gated.arrays["hands"][..., 0]).all(-1).any(-1)
    assert found.tolist() == [True] * 4 + [False] * 5 and gated.extra["hand_visibility"] == 4 / 9
    assert gated.extra == every.extra
    assert np.array_equal(gated.arrays["hands"], every.arrays["hands"], equal_nan=True)


def test_tracking_gives_the_stateless_results_on_a_talking_head(carphone_clip, graph_calls):
    """Tracked from sample to sample (default) or stateless on each: the same scores, keypoints within 3 % of
    the frame; tracked, stateless Pose (with its person detector) does not run at all on the carphone clip."""
    def fresh() -> AnalysisClip:  # no detections kept from other tests
        return AnalysisClip(carphone_clip.frames, carphone_clip.fps)

    stateless = MediaPipePose(sample_fps=5.0, track=False).score(fresh())
    runs = graph_calls.count("pose")
    tracked = MediaPipePose(sample_fps=5.0).score(fresh())
    assert tracked.extra == stateless.extra and runs == 20 and graph_calls.count("pose") == runs
    a, b = stateless.arrays["body"], tracked.arrays["body"]
    both = (a[..., 2] > 0.5) & (b[..., 2] > 0.5)
    assert both.sum() > 100 and np.abs(a[..., :2][both] - b[..., :2][both]).mean() < 0.03


def test_tracking_does_not_carry_a_person_across_a_cut(astronaut):
    """3 s of the astronaut, then 3 s of a coffee cup in one clip (a cut the splitter missed): Pose's tracker alone
    keeps "finding" her on every coffee frame; kept only where its nose is on a detected face, the result is the
    stateless one: a body on the 6 astronaut samples, none on the 6 coffee samples."""
    from omnihuman_pipeline.scoring import _mediapipe

    a = resize_short_side(astronaut, 192)[:, :192]
    c = resize_short_side(skimage.data.coffee(), 192)[:, :192]
    clip = AnalysisClip(np.stack([a] * 75 + [c] * 75), fps=25.0)
    scorer = MediaPipePose()
    idx = sample_indices(150, 25.0, scorer.sample_fps, scorer.max_frames)
    raw = _mediapipe.track("pose", clip.frames[idx], **scorer._tracking_options())
    assert all(r.pose_landmarks is not None for r in raw[6:])  # the unguarded tracker on the cup
    score = scorer.score(clip)
    assert score.value == 0.5
    assert ((score.arrays["body"][..., 2].max(1) > 0) == (np.arange(12) < 6)).all()


def test_carphone_arrays_follow_the_clip(scorer, carphone_clip):
    """The real carphone clip (4 s): 20 samples at 5 fps, upper body visible throughout, no hands."""
    score = scorer.score(carphone_clip)
    assert score.value == 1.0 and score.extra["hand_visibility"] == 0.0 and score.extra["n_frames"] == 20
    a = score.arrays
    assert a["frame_index"].shape == (20,) and (np.diff(a["frame_index"]) > 0).all()
    assert a["hands"].shape == (20, 2, 21, 3) and tuple(a["frame_size"]) == carphone_clip.frames.shape[1:3]


def test_empty_clip_is_too_short(scorer):
    """No frames give 'too_short'."""
    assert scorer.score(AnalysisClip(np.zeros((0, 8, 8, 3), np.uint8), 25.0)).error == "too_short"


def test_to_openpose18_mapping():
    """MediaPipe 33 -> OpenPose 18 by name; the neck is the shoulder midpoint with the weaker confidence."""
    mp33 = np.stack([np.arange(33.0), np.arange(33.0) + 100, np.linspace(0.1, 0.9, 33)], -1)
    body = to_openpose18(mp33[None])[0]
    mp_names = {"nose": 0, "left_eye": 2, "right_eye": 5, "left_ear": 7, "right_ear": 8, "left_shoulder": 11,
                "right_shoulder": 12, "left_elbow": 13, "right_elbow": 14, "left_wrist": 15, "right_wrist": 16,
                "left_hip": 23, "right_hip": 24, "left_knee": 25, "right_knee": 26, "left_ankle": 27,
                "right_ankle": 28}  # fmt: skip
    for name, i in mp_names.items():
        np.testing.assert_allclose(body[OPENPOSE18.index(name)], mp33[i], err_msg=name)
    np.testing.assert_allclose(body[1], [11.5, 111.5, mp33[11, 2]])


def test_wholebody_to_openpose_layout():
    """COCO-WholeBody 133 -> DWPose renderer parts: OpenPose-18 body, feet, face 68, hands (left, right)."""
    kpts = np.stack([np.arange(133.0), -np.arange(133.0)], -1)
    parts = dw.wholebody_to_openpose(kpts, np.full(133, 0.5))
    expected = [0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]  # wholebody.py's reorder
    for op, coco in enumerate(expected):
        if coco >= 0:
            assert parts["body"][op, 0] == coco
    assert parts["body"][1, 0] == 5.5  # neck between the shoulders 5 and 6
    assert parts["feet"][:, 0].tolist() == list(range(17, 23)) and parts["face"].shape == (68, 3)
    assert parts["hands"][LEFT, 0, 0] == 91 and parts["hands"][RIGHT, 20, 0] == 132


def test_simcc_decode_hand_computed():
    """SimCC: argmax bin / 2 in crop px, score = min of the two maxima, -1 (then / 2) where it is <= 0."""
    sx, sy = np.zeros((1, 2, 576), np.float32), np.zeros((1, 2, 768), np.float32)
    sx[0, 0, 100], sy[0, 0, 200] = 0.9, 0.8
    sx[0, 1], sy[0, 1] = -1.0, -1.0
    locs, vals = dw.simcc_decode(sx, sy)
    np.testing.assert_allclose(locs[0, 0], [50.0, 100.0])
    np.testing.assert_allclose(vals[0], [0.8, -1.0])
    np.testing.assert_allclose(locs[0, 1], [-0.5, -0.5])
    # box (100, 40, 180, 200): centre (140, 120); scale x1.25 = (100, 200), widened to 3:4 -> (150, 200)
    center, scale = dw.box_center_scale(np.array([100, 40, 180, 200]))
    scale = dw.fix_aspect_ratio(scale, 288 / 384)
    np.testing.assert_allclose(scale, [150.0, 200.0])
    xy = dw.to_image_coords(locs[0, :1], (288, 384), center, scale)
    np.testing.assert_allclose(xy[0], [50 / 288 * 150 + 140 - 75, 100 / 384 * 200 + 120 - 100], rtol=1e-6)


def test_crop_maps_box_onto_the_model_input():
    """The top-down affine sends the box centre to the crop centre and the box's padded height to 384 px."""
    center, scale = dw.box_center_scale(np.array([100, 40, 180, 200]))
    m = dw.warp_matrix(center, dw.fix_aspect_ratio(scale, 0.75), (288, 384))
    np.testing.assert_allclose(m @ [140, 120, 1], [144, 192], atol=1e-4)
    np.testing.assert_allclose(m[:, :2], np.eye(2) * 384 / 200, atol=1e-6)


def test_nms_keeps_best_of_overlaps():
    """Greedy NMS drops a box overlapping a better one and keeps a separate one."""
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]], np.float32)
    assert dw.nms(boxes, np.array([0.9, 0.8, 0.7]), 0.45) == [0, 2]


def _export(module, example, path, input_name, output_names):
    torch = pytest.importorskip("torch")
    from torch.onnx._internal.torchscript_exporter import onnx_proto_utils

    # the TorchScript exporter imports the `onnx` package only to splice in onnx-script functions; there are
    # none here and `onnx` is not installed, so that step is skipped
    orig = onnx_proto_utils._add_onnxscript_fn
    onnx_proto_utils._add_onnxscript_fn = lambda proto, custom_opsets: proto
    try:
        with torch.no_grad():
            torch.onnx.export(module, (example,), str(path), input_names=[input_name], output_names=output_names,
                              dynamo=False, opset_version=17)  # fmt: skip
    finally:
        onnx_proto_utils._add_onnxscript_fn = orig


@pytest.fixture(scope="module")
def dwpose_models(tmp_path_factory):
    """yolox_l.onnx / dw-ll_ucoco_384.onnx stand-ins with the official input and output names and shapes."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    import warnings

    class Fixed(torch.nn.Module):
        def __init__(self, *outs):
            super().__init__()
            for i, out in enumerate(outs):
                self.register_buffer(f"out{i}", torch.as_tensor(out))
            self.n = len(outs)

        def forward(self, x):
            dep = x.mean() * 0.0
            outs = tuple(getattr(self, f"out{i}") + dep for i in range(self.n))
            return outs if self.n > 1 else outs[0]

    # detector: a person at (100, 40, 180, 200) in a 320x240 image (canvas ratio 2) on the stride-32 cell
    # (8, 7); a weaker duplicate on a stride-16 cell (NMS); a confident non-person (class 1)
    raw = np.zeros((1, 8400, 85), np.float32)
    raw[0, 8000 + 7 * 20 + 8, :6] = [0.75, 0.5, math.log(5), math.log(10), 0.9, 0.9]
    raw[0, 6400 + 15 * 40 + 17, :6] = [0.5, 0.0, math.log(10), math.log(20), 0.7, 0.7]
    raw[0, 100, :4], raw[0, 100, 4], raw[0, 100, 6] = [0.5, 0.5, 1.0, 1.0], 0.95, 0.95
    # pose: every keypoint at crop (50, 100) with score 0.8, except keypoint 17 (a foot) at score -1
    sx, sy = np.zeros((1, 133, 576), np.float32), np.zeros((1, 133, 768), np.float32)
    sx[0, :, 100], sy[0, :, 200] = 0.9, 0.8
    sx[0, 17], sy[0, 17] = -1.0, -1.0
    folder = tmp_path_factory.mktemp("dwpose")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _export(Fixed(raw), torch.zeros(1, 3, 640, 640), folder / "yolox_l.onnx", "images", ["output"])
        _export(Fixed(sx, sy), torch.zeros(1, 3, 384, 288), folder / "dw-ll_ucoco_384.onnx", "input",
                ["simcc_x", "simcc_y"])  # fmt: skip
    return folder / "yolox_l.onnx", folder / "dw-ll_ucoco_384.onnx"


def test_dwpose_onnx_round_trip(dwpose_models):
    """The two ONNX models run end to end: one person box, keypoints mapped back through the crop."""
    import onnxruntime as ort

    det, pose = dwpose_models
    assert [(o.name, o.shape) for o in ort.InferenceSession(str(pose)).get_outputs()] == [
        ("simcc_x", [1, 133, 576]), ("simcc_y", [1, 133, 768])]  # fmt: skip
    found = dw.DWPoseOnnx(det, pose)(np.zeros((240, 320, 3), np.uint8))
    np.testing.assert_allclose(found.boxes, [[100, 40, 180, 200]], atol=1e-3)
    np.testing.assert_allclose(found.box_scores, [0.81], atol=1e-6)
    expected = [50 / 288 * 150 + 140 - 75, 100 / 384 * 200 + 120 - 100]
    np.testing.assert_allclose(found.keypoints[0, 0], expected, rtol=1e-5)
    assert (
        found.scores.shape == (1, 133)
        and found.scores[0, 0] == pytest.approx(0.8)
        and found.scores[0, 17] < 0
    )


def test_dwpose_scorer_arrays(dwpose_models):
    """The DWPose scorer: normalised DWPose-layout arrays, one person, upper body visible."""
    det, pose = dwpose_models
    scorer = DWPose(det_path=str(det), pose_path=str(pose), sample_fps=5.0)
    score = scorer.score(AnalysisClip(np.zeros((25, 240, 320, 3), np.uint8), 25.0))
    assert score.backend == "dwpose" and score.value == 1.0 and score.extra["people"] == 1.0
    a = score.arrays
    assert a["body"].shape == (5, 18, 3) and a["hands"].shape == (5, 2, 21, 3)
    assert a["feet"].shape == (5, 6, 3) and a["face"].shape == (5, 68, 3)
    np.testing.assert_allclose(a["body"][0, 0, :2], [(50 / 288 * 150 + 65) / 320, (100 / 384 * 200 + 20) / 240],
                               rtol=1e-5)  # fmt: skip
    assert score.extra["hand_visibility"] == 1.0 and score.extra["full_body"] == 1.0


def test_dwpose_without_weights_names_the_file(monkeypatch, tmp_path):
    """Missing DWPose weights raise an error naming the file and the setting."""
    monkeypatch.delenv("OMNIHUMAN_WEIGHTS_DWPOSE_DET", raising=False)
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_FILE", str(tmp_path / "none.yml"))
    with pytest.raises(WeightsNotFoundError, match="yolox_l.onnx"):
        DWPose().setup()


def test_visibility_and_hand_shares():
    """Upper-body share needs all required points; a hand needs 11 of 21 confident points."""
    body = empty_points(3, 18)
    body[:2, :, 2] = 0.9
    body[1, OPENPOSE18.index("left_eye"), 2] = 0.1
    assert visible_share(body, ("nose", "left_eye"), 0.5) == pytest.approx(1 / 3)
    hands = empty_points(2, 2, 21)
    hands[0, RIGHT, :11, 2] = 1.0
    hands[1, LEFT, :10, 2] = 1.0
    assert hand_share(hands, 0.5) == 0.5
    with pytest.raises(ValueError, match="unknown keypoint"):
        visible_share(body, ("tail",), 0.5)


def test_hand_sides_undo_mediapipe_mirroring():
    """MediaPipe's 'Left' is the person's right hand; a clash goes to the hand nearer that pose wrist."""
    body = empty_points(18)
    assert assign_hand_sides([np.array([0.2, 0.5])], ["Left"], body) == [RIGHT]
    body[OPENPOSE18.index("right_wrist"), :2] = [0.8, 0.5]
    assert assign_hand_sides([np.array([0.2, 0.5]), np.array([0.75, 0.5])], ["Left", "Left"], body) == [
        LEFT,
        RIGHT,
    ]


def test_sample_indices_rate_and_cap():
    """About `sample_fps` samples per second, capped, spread over the clip."""
    assert len(sample_indices(100, 25.0, 5.0, 50)) == 20
    assert len(sample_indices(1000, 25.0, 5.0, 50)) == 50
    assert sample_indices(0, 25.0, 5.0, 50).size == 0 and sample_indices(3, 25.0, 5.0, 50).tolist() == [1]
