"""Person, face and pose share one grid of frames and one run of each MediaPipe graph per frame."""

import numpy as np
import pytest

from omnihuman_pipeline.scoring import _mediapipe
from omnihuman_pipeline.scoring._frames import resize_short_side
from omnihuman_pipeline.scoring.base import AnalysisClip
from omnihuman_pipeline.scoring.face import MediaPipeFaces
from omnihuman_pipeline.scoring.person import MediaPipePerson
from omnihuman_pipeline.scoring.pose import MediaPipePose
from omnihuman_pipeline.scoring.registry import score_clip


@pytest.fixture(scope="module")
def scorers():
    pytest.importorskip("mediapipe")
    yield [MediaPipePerson(), MediaPipeFaces(), MediaPipePose()]
    _mediapipe.close_all()


def _clip(astronaut, coffee) -> AnalysisClip:
    """6 s: 3 s of the astronaut (a person), then 3 s of a coffee cup (none)."""
    a, c = resize_short_side(astronaut, 192), resize_short_side(coffee, 192)[:, :192]
    return AnalysisClip(np.stack([a[:, :192]] * 75 + [c] * 75), fps=25.0, clip_id="mixed")


def test_each_graph_runs_once_per_grid_frame(scorers, astronaut, graph_calls):
    """All three scorers on a 6 s clip: 12 grid frames at 2 fps; no (graph, frame) runs twice. Face detection may
    run on every grid frame: pose keeps a tracked body only where it sits on a detected face."""
    import skimage.data

    calls = graph_calls
    clip = _clip(astronaut, skimage.data.coffee())
    row = score_clip(clip, scorers)
    grid = _mediapipe.grid_indices(150, 25.0, 2.0, 50)
    assert len(grid) == 12
    face_frames = set(_mediapipe.detection_frames(150, 25.0, 8).tolist())
    person_frames = set(_mediapipe.detection_frames(150, 25.0, 5).tolist())
    assert calls.count("face_detection") <= 2 * len(grid) and calls.count("pose") <= len(grid)
    assert calls.count("hands") <= len(grid)
    keys = [k for k in clip.memo if k[0] == "mediapipe"]
    assert len(keys) == len(calls) == len(set(keys))  # every run is kept and none is repeated
    assert person_frames | face_frames <= set(grid.tolist())
    assert row["person"] == pytest.approx(len([i for i in person_frames if i < 75]) / 5) and row["face_count_max"] == 1 and row["face_frames"] == 0.5 and row["pose"] == pytest.approx(0.5)


def test_shared_results_equal_separate_runs(scorers, astronaut):
    """Each scorer alone on a fresh clip gives the same columns as the three together on one clip."""
    import skimage.data

    together = score_clip(_clip(astronaut, skimage.data.coffee()), scorers)
    for scorer in scorers:
        alone = score_clip(_clip(astronaut, skimage.data.coffee()), [scorer])
        for key, value in alone.items():
            if not key.startswith("timing_"):
                assert together[key] == value or (value != value and together[key] != together[key]), key


def test_tracking_graphs_are_not_shared():
    """A graph with state (tracking mode) cannot be shared: its output would depend on other clips."""
    pytest.importorskip("mediapipe")
    with pytest.raises(ValueError, match="static"):
        _mediapipe.solution("pose", static_image_mode=False)


def test_pose_tracker_forgets_the_previous_clip(astronaut):
    """The per-process Pose tracker (`_mediapipe.track`), after another clip, gives exactly the landmarks of a new
    graph; smoothing across clips is refused."""
    import mediapipe as mp

    options = MediaPipePose()._tracking_options()
    a = resize_short_side(astronaut, 192)
    clip = np.stack([np.roll(a[:, :192], 3 * k, axis=1) for k in range(6)])
    other = np.stack([np.roll(a[:, 64:256], -5 * k, axis=1) for k in range(6)])
    with mp.solutions.pose.Pose(**options) as fresh:
        expected = [fresh.process(frame).pose_landmarks for frame in clip]
    _mediapipe.track("pose", other, **options)  # the shared tracker now follows her in another framing
    again = [r.pose_landmarks for r in _mediapipe.track("pose", clip, **options)]
    assert all(e is not None for e in expected)
    assert [[(p.x, p.y, p.visibility) for p in e.landmark] for e in expected] == [
        [(p.x, p.y, p.visibility) for p in g.landmark] for g in again]
    with pytest.raises(ValueError, match="smooth_landmarks"):
        _mediapipe.track("pose", clip, **{**options, "smooth_landmarks": True})


def test_landmarks_xy_equals_the_points_attributes(astronaut):
    """FaceMesh's 478 points (x, y, z only: read from the wire bytes) and Pose's 33 (with visibility: read point
    by point) come out exactly as their x and y attributes."""
    import mediapipe as mp

    frame = resize_short_side(astronaut, 192)
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True) as mesh:
        face = mesh.process(frame).multi_face_landmarks[0]
    with mp.solutions.pose.Pose(static_image_mode=True) as pose:
        body = pose.process(frame).pose_landmarks
    assert len(face.SerializeToString()) == 478 * _mediapipe._XYZ_POINT.itemsize  # the wire-bytes path
    assert len(body.SerializeToString()) != 33 * _mediapipe._XYZ_POINT.itemsize  # the point-by-point path
    for points, n in ((face, 478), (body, 33)):
        xy = _mediapipe.landmarks_xy(points)
        assert xy.shape == (n, 2) and xy.dtype == np.float64
        assert xy.tolist() == [[np.float32(p.x), np.float32(p.y)] for p in points.landmark]
