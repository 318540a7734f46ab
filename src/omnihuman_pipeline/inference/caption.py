"""The text condition when a job gives none (paper §3.4: "we use an image captioning model to obtain the
text input"): the curate captioner, run on the reference image with the curate caption settings.

The training captions came from ``parameters_curate.yml: caption`` (``scoring.caption``), so
generation uses that same group: ``signals`` composes the sentence from what is measured here, the
reference image's faces (count, main face height) and, when audio drives, the driving audio's speech
ratio (Silero VAD) and, when ``caption.transcribe`` is set, its Whisper transcript; ``vlm`` captions
the reference image with the configured vision-language model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from omnihuman_pipeline.scoring.face import FaceBox


def reference_signals(faces: Sequence[FaceBox], audio16k: np.ndarray | None,
                      transcribe: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The clip-table columns the ``signals`` captioner reads, measured on the job's inputs.

    Args:
        faces: faces of the reference image.
        audio16k: the driving audio at 16 kHz, or None when audio is not a condition.
        transcribe: curate's ``caption.transcribe`` settings (``min_speech_ratio``, ``model_path``), or
            None for no transcript.

    Returns:
        ``face_count``, ``face_height`` and, with audio, ``speech_ratio`` and ``speech_transcript``.
    """
    row: dict[str, Any] = {"face_count": len(faces),
                           "face_height": max((f.height for f in faces), default=0.0)}
    if audio16k is None or not len(audio16k):
        return row
    from omnihuman_pipeline.scoring.speech import SileroWhisperSpeech, load_ct2_whisper, speech_ratio
    from omnihuman_pipeline.scoring.speech import transcribe as tr

    duration = len(audio16k) / 16_000
    row["speech_ratio"] = speech_ratio(SileroWhisperSpeech(transcribe=False).segments(audio16k), duration)
    if transcribe and row["speech_ratio"] >= float(transcribe.get("min_speech_ratio", 0.3)):
        _, row["speech_transcript"] = tr(load_ct2_whisper(transcribe.get("model_path")), audio16k)
    return row


def caption_reference(image: np.ndarray, faces: Sequence[FaceBox], audio16k: np.ndarray | None,
                      caption: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """A caption for a job from its reference image (and driving audio), with the curate captioner.

    Args:
        image: reference image RGB uint8 [H, W, 3].
        faces: its faces (``speaker.detect_faces``).
        audio16k: driving audio at 16 kHz, or None.
        caption: ``parameters_curate.yml: caption`` (``backend``, ``thresholds``, ``transcribe``; ``vlm``:
            ``weights``, ``prompt``, ``max_new_tokens``, ``device``).

    Returns:
        (caption, backend name).
    """
    from omnihuman_pipeline.scoring.caption import caption_image, compose_caption, load_captioner

    settings = dict(caption or {})
    backend = settings.get("backend", "signals")
    if backend == "vlm":
        captioner = load_captioner(settings.get("weights"), settings.get("device", "cpu"))
        text = caption_image(captioner, image, prompt=settings.get("prompt"),
                             max_new_tokens=int(settings.get("max_new_tokens", 40)))
        return text, "vlm"
    if backend != "signals":
        raise ValueError(f"unknown caption backend {backend!r}; known: ['signals', 'vlm']")
    row = reference_signals(faces, audio16k, settings.get("transcribe"))
    return compose_caption(row, settings.get("thresholds")), "signals"
