"""Tests of the speech scorers: Silero VAD ratio, Whisper transcript, openai-whisper loader, failures."""

from __future__ import annotations

import numpy as np
import pytest

from omnihuman_pipeline.corpus import talking
from omnihuman_pipeline.scoring import speech
from omnihuman_pipeline.scoring.base import AnalysisClip
from omnihuman_pipeline.weights import WeightsNotFoundError

SR = 16_000


def _clip(audio: np.ndarray | None, sample_rate: int = SR) -> AnalysisClip:
    return AnalysisClip(np.zeros((100, 8, 8, 3), np.uint8), 25.0, audio, sample_rate)


@pytest.fixture(scope="session")
def speech_audio() -> list[np.ndarray]:
    """The talking corpus' synthetic speech (4 s each, three seeds), as the clips carry it."""
    return [talking.talking_clip(seed=s, duration_s=4.0).audio for s in range(3)]


@pytest.fixture(scope="session")
def silero() -> speech.SileroWhisperSpeech:
    scorer = speech.SileroWhisperSpeech()
    scorer.setup()
    return scorer


def test_vad_ratio_high_on_speech(silero, speech_audio):
    """Silero fires on the synthetic speech: ratio >= 0.7 (syllables fill ~65 % of the time), segments split at pauses."""
    for audio in speech_audio:
        score = silero.score(_clip(audio))
        assert score.error is None and score.value >= 0.7 and score.extra["ratio"] == score.value
        assert score.extra["n_segments"] >= 1 and score.arrays["segments_s"].shape == (
            score.extra["n_segments"],
            2,
        )


def test_vad_ratio_zero_on_silence(silero):
    """Digital silence and -70 dBFS noise: ratio 0.0, no error, no transcript."""
    for audio in (
        np.zeros(4 * SR, np.float32),
        np.random.default_rng(0).normal(0, 3e-4, 4 * SR).astype(np.float32),
    ):
        score = silero.score(_clip(audio))
        assert score.error is None and score.value == 0.0
        assert (
            score.extra["n_segments"] == 0
            and score.extra["transcript"] == ""
            and score.extra["segments"] == "[]"
        )


def test_transcript_and_language_on_speech(silero, speech_audio):
    """Whisper tiny.en runs on speech clips: language "en", a string transcript (babble, so any text)."""
    score = silero.score(_clip(speech_audio[0]))
    assert score.extra["language"] == "en" and isinstance(score.extra["transcript"], str)


def test_other_sample_rates_are_resampled(silero, speech_audio):
    """48 kHz input gives the same ratio as 16 kHz within one VAD window per segment."""
    from scipy.signal import resample_poly

    a48 = resample_poly(speech_audio[1], 3, 1).astype(np.float32)
    r16 = silero.score(_clip(speech_audio[1])).value
    assert silero.score(_clip(a48, 48_000)).value == pytest.approx(r16, abs=0.05)


def test_no_audio_is_an_error(silero):
    """A clip without an audio track fails with "no_audio" and NaN."""
    score = silero.score(_clip(None))
    assert score.error == "no_audio" and np.isnan(score.value)


def test_speech_ratio_equals_sample_mask():
    """The merged-segment ratio equals a brute-force per-millisecond coverage mask."""
    segs = np.array([[0.5, 1.0], [0.9, 1.2], [2.0, 2.5], [-1.0, 0.1], [3.8, 9.0]])
    mask = np.zeros(4000, bool)
    for a, b in segs:
        mask[max(0, int(round(a * 1000))) : int(round(min(b, 4.0) * 1000))] = True
    assert speech.speech_ratio(segs, 4.0) == pytest.approx(mask.mean(), abs=1e-9)
    np.testing.assert_allclose(speech.merge_segments(segs, 4.0), [[0, 0.1], [0.5, 1.2], [2, 2.5], [3.8, 4]])


def test_openai_whisper_loader_round_trip(tmp_path, speech_audio, monkeypatch):
    """A tiny random-weight checkpoint in whisper's layout loads through our loader and scores offline."""
    import socket

    import torch
    import whisper
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,
        n_audio_state=32,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=51865,
        n_text_ctx=32,
        n_text_state=32,
        n_text_head=2,
        n_text_layer=1,
    )
    torch.manual_seed(0)
    model = Whisper(dims)
    with torch.no_grad():  # whisper allocates some weights with torch.empty: random values, not stale memory (NaN != NaN)
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.randn_like(tensor) * 0.02)
    path = tmp_path / "tiny-random.pt"
    torch.save({"dims": dims.__dict__, "model_state_dict": model.state_dict()}, path)

    def no_network(*args, **kwargs):
        raise AssertionError("network access")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    loaded = speech.load_whisper(str(path))
    assert loaded.dims == dims and loaded.is_multilingual
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    scorer = speech.OpenAIWhisperSpeech(weights_path=str(path))
    score = scorer.score(_clip(speech_audio[0]))
    assert score.backend == "whisper" and score.error is None and 0.0 <= score.value <= 1.0
    assert score.extra["language"] in whisper.tokenizer.LANGUAGES
    assert score.arrays["segments_s"].ndim == 2 and score.arrays["segments_s"].shape[1] == 2
    assert scorer.score(_clip(np.zeros(SR, np.float32))).value == 0.0


def test_missing_whisper_weights_name_the_setting(tmp_path, monkeypatch):
    """Without a checkpoint the whisper backend raises WeightsNotFoundError naming the file and setting."""
    monkeypatch.delenv("OMNIHUMAN_WEIGHTS_WHISPER", raising=False)
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_FILE", str(tmp_path / "none.yml"))
    with pytest.raises(WeightsNotFoundError, match=r"Whisper checkpoint \(\.pt\).*OMNIHUMAN_WEIGHTS_WHISPER"):
        speech.OpenAIWhisperSpeech().setup()
