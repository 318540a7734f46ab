"""One caption per clip for the text condition (paper §3.1: the MMDiT text branch; §3.3: captions for every
T-eligible clip). Captions are made from the clip *row*, after every scorer has run, not from frames.

Backends:

- "signals" (offline default): `compose_caption` writes a sentence from measured columns, e.g.
  'A half-body shot of one person speaking, hands visible, with moderate motion, saying: "hello there".'
  Every part is optional: a missing column or NaN leaves its part out (tables from before a signal existed).
- "vlm": a vision-language captioner through transformers, loaded from a local folder (`weights.resolve
  ("captioner")`), run on the middle frame of the clip (its media file, or its source span where curation wrote none).

Columns read by "signals", first present one wins:

| part | columns | rule (defaults in `CAPTION_THRESHOLDS`) |
|---|---|---|
| people | `face_count`, `face`, `person_face_count`; `pose_visibility`, `person` | faces counted; no face but a visible body or `person` >= 0.5: one person; else no person |
| shot | `face_height`; `face_area`, `person_face_area`; `pose_full_body` | full body visible in >= 50 % of frames: full-body; else by the main face's height / frame height: >= 0.30 close-up, >= 0.22 portrait, >= 0.08 half-body, smaller: wide; `face_area` stands in (0.09 / 0.048 / 0.0064, i.e. the height squared) when `face_height` is missing |
| speaking | `speech_ratio`, `speech` | >= 0.3 of the clip voiced: speaking, else not speaking |
| hands | `hand_visibility`, `pose_hand_visibility` | >= 0.5 of frames: hands visible, else hands not visible |
| motion | `motion` (Farneback, px/frame at 256 px) | < 0.3 nearly static, < 1 slight, < 3 moderate, else strong |
| transcript | `transcript`, `speech_transcript`, `speech_text` | quoted when speaking, cut at 200 characters on a word boundary |
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from omnihuman_pipeline.media.clip_source import ClipSpan, clip_middle_frame

logger = logging.getLogger(__name__)

CAPTION_THRESHOLDS: dict[str, float] = {
    "close_up_face_height": 0.30,  # carphone's head-and-shoulders talking head: 0.34
    "portrait_face_height": 0.22,  # Grace Hopper's head-and-shoulders portrait: 0.33 (close-up)
    "half_body_face_height": 0.08,  # the astronaut, head to waist: 0.19
    "full_body_share": 0.5,
    "person_share": 0.5,
    "speaking_ratio": 0.3,
    "hands_share": 0.5,
    "motion_static": 0.3,
    "motion_slight": 1.0,
    "motion_moderate": 3.0,
    "max_transcript_chars": 200,
}
NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
COLUMNS: dict[str, tuple[str, ...]] = {
    "faces": ("face_count", "face", "person_face_count"),
    "face_height": ("face_height",),
    "face_area": ("face_area", "person_face_area"),
    "pose": ("pose_visibility", "pose"),
    "person": ("person",),
    "full_body": ("pose_full_body",),
    "speech": ("speech_ratio", "speech"),
    "hands": ("hand_visibility", "pose_hand_visibility"),
    "motion": ("motion",),
    "transcript": ("transcript", "speech_transcript", "speech_text"),
}


def _number(row: Mapping[str, Any], key: str) -> float | None:
    for column in COLUMNS[key]:
        value = row.get(column)
        if isinstance(value, bool | np.bool_):
            return float(value)
        if isinstance(value, int | float | np.number) and math.isfinite(float(value)):
            return float(value)
    return None


def _text(row: Mapping[str, Any], key: str) -> str | None:
    for column in COLUMNS[key]:
        value = row.get(column)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
    return None


def people_count(row: Mapping[str, Any], t: Mapping[str, float] = CAPTION_THRESHOLDS) -> int | None:
    """People in the clip: the face count; 1 for a body without a visible face; None when nothing was measured."""
    faces = _number(row, "faces")
    if faces is not None and faces >= 1:
        return int(faces)
    pose, person = _number(row, "pose"), _number(row, "person")
    if (pose is not None and pose >= t["person_share"]) or (
        person is not None and person >= t["person_share"]
    ):
        return 1
    if faces is None and pose is None and person is None:
        return None
    return 0


def shot_type(row: Mapping[str, Any], t: Mapping[str, float] = CAPTION_THRESHOLDS) -> str | None:
    """ "close-up", "portrait", "half-body", "full-body", "wide" or None (no measurement)."""
    full_body = _number(row, "full_body")
    if full_body is not None and full_body >= t["full_body_share"]:
        return "full-body"
    height = _number(row, "face_height")
    if height is None:
        area = _number(row, "face_area")
        height = math.sqrt(area) if area is not None else None  # a face box is about square
    if height is None or height <= 0:
        return None
    if height >= t["close_up_face_height"]:
        return "close-up"
    if height >= t["portrait_face_height"]:
        return "portrait"
    return "half-body" if height >= t["half_body_face_height"] else "wide"


def motion_phrase(row: Mapping[str, Any], t: Mapping[str, float] = CAPTION_THRESHOLDS) -> str | None:
    """ "nearly static", "with slight motion", "with moderate motion", "with strong motion" or None."""
    motion = _number(row, "motion")
    if motion is None:
        return None
    if motion < t["motion_static"]:
        return "nearly static"
    level = (
        "slight" if motion < t["motion_slight"] else "moderate" if motion < t["motion_moderate"] else "strong"
    )
    return f"with {level} motion"


def _people_phrase(n: int) -> str:
    if n == 1:
        return "one person"
    return f"{NUMBER_WORDS[n]} people" if n < len(NUMBER_WORDS) else "a crowd of people"


def _quote(text: str, limit: int) -> str:
    text = text.replace('"', "'")
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(",.;:") + "..."
    return f'"{text}"'


def compose_caption(row: Mapping[str, Any], thresholds: Mapping[str, float] | None = None) -> str:
    """A fluent caption from a clip's measured signals (see the module docstring for columns and rules).

    Args:
        row: one clip's columns; missing or NaN columns leave their part out.
        thresholds: overrides of `CAPTION_THRESHOLDS`.

    Returns:
        One sentence ending with a period, e.g. 'A close-up shot of one person speaking, hands not visible,
        nearly static, saying: "good morning".'
    """
    t = {**CAPTION_THRESHOLDS, **(thresholds or {})}
    people, shot, motion = people_count(row, t), shot_type(row, t), motion_phrase(row, t)
    if people == 0:
        return f"A shot with no visible person{', ' + motion if motion else ''}."
    opening = f"A {shot} shot" if shot else "A video"
    if people is None:
        return f"{opening}{' ' + motion if motion else ''}."
    head = f"{opening} of {_people_phrase(people)}"
    speech = _number(row, "speech")
    speaking = speech is not None and speech >= t["speaking_ratio"]
    if speech is not None:
        head += " speaking" if speaking else " not speaking"
    parts = [head]
    hands = _number(row, "hands")
    if hands is not None:
        parts.append("hands visible" if hands >= t["hands_share"] else "hands not visible")
    if motion:
        parts.append(motion)
    transcript = _text(row, "transcript")
    if speaking and transcript:
        parts.append("saying: " + _quote(transcript, int(t["max_transcript_chars"])))
    return ", ".join(parts) + "."


# --- VLM backend ----------------------------------------------------------------------------------


@dataclass
class Captioner:
    """A transformers image-to-text model and its processor, loaded once.

    Attributes:
        processor: `AutoProcessor` output (image processor + tokenizer).
        model: an image-text-to-text / vision-to-sequence model in eval mode.
        device: torch device string.
    """

    processor: Any
    model: Any
    device: str = "cpu"


def load_captioner(path: str | os.PathLike | None = None, device: str = "cpu") -> Captioner:
    """Load a captioning VLM from a local folder (never downloads).

    Args:
        path: a transformers folder (config, weights, processor files); None resolves weights key "captioner".
        device: torch device string.

    Returns:
        The captioner.

    Raises:
        WeightsNotFoundError: no folder configured or it does not exist.
    """
    import transformers

    from omnihuman_pipeline.weights import resolve

    folder = str(resolve("captioner", path))
    processor = transformers.AutoProcessor.from_pretrained(folder, local_files_only=True)
    # transformers 5 folds Vision2Seq into ImageTextToText; older versions have both
    auto = getattr(transformers, "AutoModelForImageTextToText", None) or transformers.AutoModelForVision2Seq
    model = auto.from_pretrained(folder, local_files_only=True)
    return Captioner(processor, model.eval().to(device), device)


def caption_image(
    captioner: Captioner, image: np.ndarray, *, prompt: str | None = None, max_new_tokens: int = 40
) -> str:
    """Caption one uint8 RGB image [H, W, 3] with greedy decoding.

    A processor with a chat template (LLaVA, Qwen-VL) gets the prompt as a user turn with the image; others
    (BLIP) get it as a text prefix. Only generated tokens are decoded.
    """
    import torch
    from PIL import Image

    processor, model = captioner.processor, captioner.model
    picture = Image.fromarray(np.ascontiguousarray(image))
    text = prompt
    if prompt and getattr(processor, "chat_template", None):
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        text = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = (
        processor(images=picture, text=text, return_tensors="pt")
        if text
        else processor(images=picture, return_tensors="pt")
    )
    inputs = inputs.to(captioner.device)
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    if (
        not model.config.is_encoder_decoder
        and "input_ids" in inputs
        and out.shape[1] > inputs["input_ids"].shape[1]
    ):
        if torch.equal(out[:, : inputs["input_ids"].shape[1]], inputs["input_ids"]):
            out = out[:, inputs["input_ids"].shape[1] :]  # decoder-only models echo the prompt
    caption = processor.batch_decode(out, skip_special_tokens=True)[0].strip()
    if prompt and caption.lower().startswith(prompt.lower()):
        caption = caption[len(prompt) :].strip()
    return " ".join(caption.split())


# --- table ------------------------------------------------------------------------------------


def caption_clips(clips: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """Add `caption`, `caption_backend` and `caption_error` to the clip table.

    Args:
        clips: one row per clip with score columns (and `media_path` or the source span for "vlm").
        config: `{"backend": "signals" | "vlm", "thresholds": {...}}` for signals; for vlm also `weights`
            (folder; None resolves "captioner"), `prompt` (None), `max_new_tokens` (40), `device` ("cpu"),
            `root` (folder the table's relative paths are under; default the working directory), `short_side` (384).

    Returns:
        A copy of `clips` with the three columns. A clip the VLM cannot caption (unreadable file, neither
        `media_path` nor a source span) gets the signals caption, `caption_backend` "signals" and the reason in `caption_error`.

    Raises:
        ValueError: unknown backend. WeightsNotFoundError: "vlm" without a captioner folder.
    """
    backend = config.get("backend", "signals")
    if backend not in ("signals", "vlm"):
        raise ValueError(f"unknown caption backend '{backend}'; known: ['signals', 'vlm']")
    out = clips.copy()
    records = out.to_dict("records")
    thresholds = config.get("thresholds")
    captions = [compose_caption(r, thresholds) for r in records]
    backends, errors = ["signals"] * len(records), [None] * len(records)
    if backend == "vlm" and records:
        captioner = load_captioner(config.get("weights"), config.get("device", "cpu"))
        root = config.get("root") or os.getcwd()
        for i, row in enumerate(records):
            path = row.get("media_path")
            if not (isinstance(path, str) and path) and ClipSpan.from_row(row, root) is None:
                errors[i] = "vlm: neither media_path nor a source span"
                continue
            try:
                image = clip_middle_frame(row, int(config.get("short_side", 384)), root)
                captions[i] = caption_image(
                    captioner,
                    image,
                    prompt=config.get("prompt"),
                    max_new_tokens=int(config.get("max_new_tokens", 40)),
                )
                backends[i] = "vlm"
            except Exception as exc:  # noqa: BLE001  (one unreadable clip keeps its signals caption)
                errors[i] = f"vlm: {type(exc).__name__}: {exc}"
                logger.warning("caption: %s: %s", path, errors[i])
    out["caption"], out["caption_backend"], out["caption_error"] = captions, backends, errors
    return out
