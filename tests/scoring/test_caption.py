"""Tests of clip captions: composed from measured signals, and a VLM loader with a tiny random BLIP."""

import math

import numpy as np
import pandas as pd
import pytest

from omnihuman_pipeline.media.decode import middle_frame
from omnihuman_pipeline.scoring.caption import (
    caption_clips,
    caption_image,
    compose_caption,
    load_captioner,
    shot_type,
)
from omnihuman_pipeline.weights import WeightsNotFoundError

NAN = math.nan


def test_close_up_speaker_with_transcript():
    """A large single face, speech and a transcript: close-up, speaking, quoted words."""
    row = {"face_count": 1, "face_height": 0.34, "speech_ratio": 0.8, "pose_hand_visibility": 0.0, "motion": 0.1,
           "speech_transcript": '  good   morning "everyone" '}  # fmt: skip
    assert compose_caption(row) == (
        "A close-up shot of one person speaking, hands not visible, nearly static, saying: \"good morning 'everyone'\"."
    )


def test_half_body_with_hands():
    """The astronaut-sized face with hands and moderate motion: the sentence of the issue."""
    row = {"face_count": 1, "face_height": 0.19, "pose_visibility": 1.0, "speech_ratio": 0.6,
           "hand_visibility": 0.7, "motion": 1.5, "transcript": "hello there"}  # fmt: skip
    assert compose_caption(row) == (
        'A half-body shot of one person speaking, hands visible, with moderate motion, saying: "hello there".'
    )


def test_no_person():
    """No face and no body: a shot with no visible person."""
    assert compose_caption({"face_count": 0, "pose_visibility": 0.0, "motion": 0.5}) == (
        "A shot with no visible person, with slight motion."
    )


def test_missing_and_nan_columns():
    """Rows from before the new signals (NaN or absent columns) still get a sentence from what exists."""
    assert compose_caption({}) == "A video."
    assert compose_caption({"face_count": NAN, "motion": NAN, "speech_ratio": None}) == "A video."
    old = {
        "person": 1.0,
        "person_face_count": 2,
        "person_face_area": 0.01,
        "motion": 4.0,
        "pose_visibility": NAN,
    }
    assert compose_caption(old) == "A half-body shot of two people, with strong motion."


def test_silent_speaker_has_no_quote_and_full_body_wins():
    """Low speech ratio: not speaking and no transcript; a visible full body sets the shot type."""
    row = {
        "face_count": 1,
        "face_height": 0.1,
        "pose_full_body": 0.8,
        "speech_ratio": 0.1,
        "transcript": "uh",
    }
    assert compose_caption(row) == "A full-body shot of one person not speaking."


def test_shot_thresholds_and_long_transcript():
    """Face height picks the shot; thresholds can be overridden; long transcripts are cut on a word."""
    assert [shot_type({"face_height": h}) for h in (0.4, 0.25, 0.1, 0.05)] == [
        "close-up", "portrait", "half-body", "wide"]  # fmt: skip
    assert shot_type({"face_area": 0.0625}) == "portrait"  # area stands in as height squared
    assert "portrait" in compose_caption({"face_count": 1, "face_height": 0.4}, {"close_up_face_height": 0.5})
    text = compose_caption({"face_count": 1, "speech_ratio": 1.0, "transcript": "word " * 100})
    assert text.endswith('word...".') and len(text) < 260


def test_caption_clips_signals_backend():
    """The table gains caption, caption_backend and caption_error; rows and other columns stay."""
    clips = pd.DataFrame(
        {"clip_id": ["a", "b"], "face_count": [1, 0], "face_height": [0.34, NAN], "motion": [0.1, 2]}
    )
    out = caption_clips(clips, {"backend": "signals"})
    assert out["clip_id"].tolist() == ["a", "b"] and (out["caption_backend"] == "signals").all()
    assert out["caption"].tolist() == ["A close-up shot of one person, nearly static.",
                                       "A shot with no visible person, with moderate motion."]  # fmt: skip
    assert out["caption_error"].isna().all() and "caption" not in clips
    with pytest.raises(ValueError, match="unknown caption backend"):
        caption_clips(clips, {"backend": "gpt"})


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory):
    """A random BlipForConditionalGeneration (1 layer, width 32) and a BLIP processor with a local 13-word vocab."""
    transformers = pytest.importorskip("transformers")
    import torch

    folder = tmp_path_factory.mktemp("captioner")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "a", "photo", "of", "person", "the", "astronaut",
             "video"]  # fmt: skip
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    tokenizer = transformers.BertTokenizer(str(folder / "vocab.txt"), bos_token="[DEC]")
    image_processor = transformers.BlipImageProcessorPil(size={"height": 32, "width": 32})
    transformers.BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    small = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 37}
    config = transformers.BlipConfig(
        text_config={**small, "vocab_size": len(words), "encoder_hidden_size": 32, "bos_token_id": 5,
                     "pad_token_id": 0, "sep_token_id": 3, "eos_token_id": 3, "max_position_embeddings": 64},
        vision_config={**small, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.BlipForConditionalGeneration(config).save_pretrained(folder)
    return folder, set(words)


def test_vlm_loader_round_trip(tiny_blip):
    """The saved folder loads back as BLIP and captions deterministically with vocabulary words."""
    folder, words = tiny_blip
    captioner = load_captioner(folder)
    assert type(captioner.model).__name__ == "BlipForConditionalGeneration"
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    caption = caption_image(captioner, image, max_new_tokens=6)
    assert caption and set(caption.split()) <= words
    assert caption_image(captioner, image, max_new_tokens=6) == caption
    assert set(caption_image(captioner, image, prompt="a photo of", max_new_tokens=6).split()) <= words


def _write_clip(path, n=25):
    from omnihuman_pipeline.corpus.encode import write_video

    frames = np.stack([np.full((64, 96, 3), 8 * i, np.uint8) for i in range(n)])
    write_video(path, frames, fps=25, crf=0)


def test_middle_frame_is_read(tmp_path):
    """The middle frame of a 25-frame clip whose brightness encodes the frame index is frame 12."""
    _write_clip(tmp_path / "c.mp4")
    frame = middle_frame(tmp_path / "c.mp4")
    assert frame.shape == (64, 96, 3) and abs(float(frame.mean()) - 96) < 6


def test_caption_clips_vlm_backend(tiny_blip, tmp_path):
    """VLM captions for readable clips (relative paths under `root`); a missing file keeps the signals caption."""
    folder, _ = tiny_blip
    _write_clip(tmp_path / "clips" / "a.mp4")
    clips = pd.DataFrame({"clip_id": ["a", "b"], "media_path": ["clips/a.mp4", "clips/missing.mp4"],
                          "face_count": [1, 1], "face_height": [0.34, 0.34]})  # fmt: skip
    out = caption_clips(
        clips, {"backend": "vlm", "weights": str(folder), "root": str(tmp_path), "max_new_tokens": 5}
    )
    captioner = load_captioner(folder)
    expected = caption_image(captioner, middle_frame(tmp_path / "clips" / "a.mp4"), max_new_tokens=5)
    assert out.loc[0, "caption"] == expected and out.loc[0, "caption_backend"] == "vlm"
    assert (
        out.loc[1, "caption_backend"] == "signals"
        and out.loc[1, "caption"] == "A close-up shot of one person."
    )
    assert out.loc[1, "caption_error"].startswith("vlm: ") and pd.isna(out.loc[0, "caption_error"])


def test_vlm_without_weights_names_the_setting(monkeypatch, tmp_path):
    """Asking for the VLM without a captioner folder fails clearly, before any clip is read."""
    monkeypatch.delenv("OMNIHUMAN_WEIGHTS_CAPTIONER", raising=False)
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_FILE", str(tmp_path / "none.yml"))
    with pytest.raises(WeightsNotFoundError, match="captioner"):
        caption_clips(pd.DataFrame({"media_path": ["x.mp4"]}), {"backend": "vlm"})
