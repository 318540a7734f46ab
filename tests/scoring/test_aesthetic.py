"""Tests of the aesthetic scorers: classical image statistics and the LAION head on CLIP."""

import cv2
import numpy as np
import pytest

from omnihuman_pipeline.scoring.aesthetic import (
    CLIP_MEAN,
    LAION_HEAD_FILE,
    ImageStatsAesthetic,
    LaionAesthetic,
    build_laion_head,
    clip_preprocess,
    colourfulness,
    image_statistics,
    laion_scores,
    load_laion_models,
)
from omnihuman_pipeline.scoring.base import AnalysisClip
from omnihuman_pipeline.weights import WeightsNotFoundError


def _clip(frames):
    return AnalysisClip(frames=frames, fps=25.0)


OFFICIAL_HEAD_KEYS = {f"layers.{i}.{p}" for i in (0, 2, 4, 6, 7) for p in ("weight", "bias")}


def _still(image: np.ndarray, n: int = 3):
    return _clip(np.stack([image] * n))


def _resized(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA)


# --- image_stats -----------------------------------------------------------------------------------------


def test_colourfulness_reference_values():
    """Gray has colourfulness 0; a saturated red/green split is far above the 'highly colourful' 82."""
    assert colourfulness(np.full((8, 8, 3), 128, np.uint8)) == 0
    split = np.zeros((8, 8, 3), np.uint8)
    split[:, :4, 0] = 255
    split[:, 4:, 1] = 255
    assert colourfulness(split) > 82


def test_image_stats_orders_photo_above_flat_noise_blur(astronaut):
    """A natural photo outscores flat gray, white noise, heavy blur and underexposure; all stay in 1-10."""
    scorer = ImageStatsAesthetic()
    rng = np.random.default_rng(0)
    photo = scorer.score(_still(_resized(astronaut)))
    others = {
        "gray": np.full((256, 256, 3), 128, np.uint8),
        "noise": rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
        "blur": cv2.GaussianBlur(_resized(astronaut), (0, 0), 2),
        "dark": (_resized(astronaut) * 0.15).astype(np.uint8),
    }
    scores = {k: scorer.score(_still(v)).value for k, v in others.items()}
    assert photo.backend == "image_stats" and 6 < photo.value <= 10
    assert scores["gray"] == pytest.approx(1.0)
    assert all(1 <= v < photo.value - 3 for v in scores.values()), scores


def test_image_stats_is_deterministic_and_reports_statistics(astronaut):
    """Scoring twice gives the same value; the raw statistics come back as extras."""
    clip = _still(_resized(astronaut))
    a, b = ImageStatsAesthetic().score(clip), ImageStatsAesthetic().score(clip)
    assert a.value == b.value
    assert set(a.extra) == set(image_statistics(clip.frames[0]))
    assert -1.8 < a.extra["spectral_slope"] < -1.0  # natural-image 1/f amplitude spectrum


def test_image_stats_empty_clip():
    """No frames give 'too_short'."""
    assert ImageStatsAesthetic().score(_clip(np.zeros((0, 8, 8, 3), np.uint8))).error == "too_short"


# --- laion ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def laion_files(tmp_path_factory):
    """A tiny random CLIP vision tower (projection 768) and a random head, saved in the official layouts."""
    pytest.importorskip("transformers")
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    root = tmp_path_factory.mktemp("laion")
    torch.manual_seed(0)
    config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
        projection_dim=768,
    )
    CLIPVisionModelWithProjection(config).save_pretrained(root / "clip")
    head = torch.nn.Sequential(  # the official module's layout, written out independently of the loader
        torch.nn.Linear(768, 1024),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(1024, 128),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(128, 64),
        torch.nn.Dropout(0.1),
        torch.nn.Linear(64, 16),
        torch.nn.Linear(16, 1),
    )
    state = {f"layers.{k}": v for k, v in head.state_dict().items()}
    torch.save(state, root / LAION_HEAD_FILE)
    return root / LAION_HEAD_FILE, root / "clip", head.eval()


def test_laion_head_has_official_keys():
    """The head's state dict keys and shapes are those of sac+logos+ava1-l14-linearMSE.pth."""
    state = build_laion_head().state_dict()
    assert set(state) == OFFICIAL_HEAD_KEYS
    assert tuple(state["layers.0.weight"].shape) == (1024, 768) and tuple(state["layers.7.weight"].shape) == (
        1,
        16,
    )


def test_clip_preprocess_crops_and_normalises():
    """A frame of CLIP's mean colour becomes zeros; a 256x455 frame becomes a centre-cropped square."""
    frame = np.broadcast_to(np.round(CLIP_MEAN * 255).astype(np.uint8), (256, 455, 3))
    out = clip_preprocess(frame[None], 224)
    assert out.shape == (1, 3, 224, 224) and out.dtype == np.float32
    assert np.abs(out).max() < 0.01


def test_laion_loader_scores_random_weights(laion_files, astronaut, monkeypatch):
    """Weights load through `weights.resolve` (env vars), give one finite score per frame, deterministic."""
    import torch

    head_file, clip_dir, reference_head = laion_files
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_LAION_AESTHETIC", str(head_file))
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_CLIP_VIT_L14", str(clip_dir))
    clip_model, head = load_laion_models()
    frames = np.stack([_resized(astronaut), np.full((256, 256, 3), 128, np.uint8)])
    scores = laion_scores(frames, clip_model, head)
    assert scores.shape == (2,) and np.all(np.isfinite(scores)) and scores[0] != scores[1]
    np.testing.assert_array_equal(scores, laion_scores(frames, clip_model, head))
    # the loaded head is the saved one: same output as the independently built official module
    emb = torch.nn.functional.normalize(torch.randn(4, 768), dim=-1)
    with torch.no_grad():
        torch.testing.assert_close(head(emb), reference_head(emb))
    scorer = LaionAesthetic(n_frames=2)
    clip_score = scorer.score(_clip(frames))
    assert clip_score.backend == "laion" and clip_score.value == pytest.approx(scores.mean(), rel=1e-6)


def test_laion_missing_weights_name_the_file(tmp_path, monkeypatch):
    """Without weights, setup raises WeightsNotFoundError naming the official head file."""
    monkeypatch.delenv("OMNIHUMAN_WEIGHTS_LAION_AESTHETIC", raising=False)
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_FILE", str(tmp_path / "weights.yml"))
    with pytest.raises(WeightsNotFoundError, match=r"sac\+logos\+ava1-l14-linearMSE\.pth"):
        LaionAesthetic().setup()
    with pytest.raises(WeightsNotFoundError, match="laion_aesthetic"):
        LaionAesthetic(head_path=str(tmp_path / "nope.pth")).setup()
