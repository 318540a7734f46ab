"""Audio features at 25 fps: pooling, Whisper (all layers, checked against CTranslate2), wav2vec2 loader."""

from __future__ import annotations

import numpy as np
import pytest

from omnihuman_pipeline.features.audio import build_audio_encoder, clip_audio_features, pool_to_frames

SR, FPS = 16_000, 25


@pytest.fixture(scope="module")
def whisper():
    """The offline default: every hidden state of Whisper tiny.en."""
    return build_audio_encoder("whisper")


def click_audio(n_frames: int, frame: int | None) -> np.ndarray:
    """Near-silence with a 5 ms click in the middle of video frame `frame`."""
    audio = (1e-4 * np.random.default_rng(0).standard_normal(n_frames * SR // FPS)).astype(np.float32)
    if frame is not None:
        start = frame * SR // FPS + 240
        audio[start:start + 80] = 0.8 * np.hanning(80)
    return audio


def test_pooling_averages_the_states_centred_in_each_frame():
    """50 Hz states at 20j ms pool in pairs (2i, 2i+1) into 25 fps frame i; a frame without states takes the nearest."""
    states = np.arange(10, dtype=np.float32).reshape(10, 1, 1)
    out = pool_to_frames(states, np.arange(10) * 0.02, n_frames=6, fps=FPS)
    assert out[:5, 0, 0].tolist() == [0.5, 2.5, 4.5, 6.5, 8.5] and out[5, 0, 0] == 9.0


def test_whisper_gives_all_layers_at_25_fps(whisper):
    """A 49-frame clip -> [49, 5, 384]: embeddings + 4 blocks of the tiny.en encoder."""
    feats = clip_audio_features(whisper, click_audio(49, 20), n_frames=49, fps=FPS, sample_rate=SR)
    assert feats.shape == (49, 5, 384) and np.isfinite(feats).all()


def test_whisper_last_layer_equals_ctranslate2(whisper):
    """The PyTorch rebuild's last hidden state matches CTranslate2's own encoder output."""
    ct2 = build_audio_encoder("whisper_ct2")
    audio = (0.2 * np.sin(2 * np.pi * 300 * np.arange(SR) / SR)).astype(np.float32)
    ours, _ = whisper.hidden_states(audio, SR)
    theirs, _ = ct2.hidden_states(audio, SR)
    assert theirs.shape == (50, 1, 384) and ct2.layers == 1
    assert np.abs(ours[:, -1] - theirs[:, 0]).max() < 1e-3


@pytest.mark.parametrize("layer", [0, -1])
def test_click_at_frame_k_shows_at_feature_frame_k(whisper, layer):
    """A click inside video frame k changes feature frame k (±1) the most, in the first and the last layer."""
    silent = clip_audio_features(whisper, click_audio(50, None), n_frames=50, fps=FPS, sample_rate=SR)
    for k in (7, 31):
        clicked = clip_audio_features(whisper, click_audio(50, k), n_frames=50, fps=FPS, sample_rate=SR)
        change = np.linalg.norm(clicked[:, layer] - silent[:, layer], axis=-1)
        assert abs(int(change.argmax()) - k) <= 1, (k, change.argmax())


@pytest.fixture(scope="module")
def tiny_wav2vec2(tmp_path_factory):
    """A random wav2vec2 of the official architecture (hidden 32, 2 layers) plus its feature extractor."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                            conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    path = tmp_path_factory.mktemp("wav2vec2")
    Wav2Vec2Model(config).save_pretrained(path)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SR, do_normalize=True).save_pretrained(path)
    return path


def test_wav2vec2_loader_gives_every_hidden_state(tiny_wav2vec2):
    """Through the loader: [F, layers + 1, hidden] = [25, 3, 32]; ~2 states per 40 ms frame."""
    encoder = build_audio_encoder("wav2vec2", weights=str(tiny_wav2vec2))
    audio = click_audio(25, 10)
    states, centers = encoder.hidden_states(audio, SR)
    assert states.shape == (49, 3, 32) and np.allclose(np.diff(centers), 0.02)
    feats = clip_audio_features(encoder, audio, n_frames=25, fps=FPS, sample_rate=SR)
    assert feats.shape == (25, 3, 32) and np.isfinite(feats).all()


def test_windowed_features_equal_the_whole_drive_s_in_any_frame_range(whisper):
    """A 65-s drive read in ranges across the 30-s windows gives the whole drive's features, one window cached."""
    import torch

    from omnihuman_pipeline.features.audio import WindowedAudioFeatures

    rng = np.random.default_rng(0)
    n_frames = 65 * 25
    audio = (0.1 * rng.standard_normal(n_frames * 640)).astype(np.float32)
    whole = clip_audio_features(whisper, audio, n_frames=n_frames, fps=25.0, sample_rate=16_000)
    lazy = WindowedAudioFeatures(whisper, audio, n_frames=n_frames, fps=25.0, sample_rate=16_000)
    for a, b in [(0, 13), (740, 760), (1499, 1501), (1400, n_frames), (0, n_frames)]:
        torch.testing.assert_close(lazy[a:b], torch.from_numpy(whole[a:b]), rtol=0, atol=1e-5)
    assert len(lazy) == n_frames and lazy._cached[0] == 2
