"""Speaker selection: faces of the reference left to right, the chosen face's latent mask, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnihuman_pipeline.inference.conditions import GenerationError
from omnihuman_pipeline.inference.media_io import read_image
from omnihuman_pipeline.inference.speaker import box_mask, choose_speaker, detect_faces, image_mask
from omnihuman_pipeline.scoring.face import FaceBox


def test_two_faces_are_found_left_to_right_and_each_gets_its_half(media_dir):
    """The two-person reference shows two faces; speaker 0's mask is on the left, speaker 1's on the right."""
    image = read_image(media_dir / "two.png", size=(256, 128))
    faces = detect_faces(image)
    assert len(faces) == 2 and faces[0].x1 < faces[1].x0
    left, right = (box_mask(choose_speaker(faces, i), 16, 32) for i in (0, 1))
    assert left[:, :16].sum() > 0 and left[:, 16:].sum() == 0
    assert right[:, 16:].sum() > 0 and right[:, :16].sum() == 0


def test_box_mask_covers_the_widened_box():
    """A centred box of a quarter of the frame, doubled: the middle half of an 8x8 grid."""
    mask = box_mask(FaceBox(0.375, 0.375, 0.625, 0.625, 0.9), 8, 8, box_scale=2.0)
    expected = torch.zeros(8, 8)
    expected[2:6, 2:6] = 1
    assert torch.equal(mask, expected)


def test_no_face_or_a_missing_speaker_is_a_clear_error(media_dir):
    """An image without a face, or speaker 2 of two faces, names what to give instead."""
    coffee = read_image(media_dir / "coffee.png", size=(160, 128))
    with pytest.raises(GenerationError, match="no face found.*speaker_mask"):
        choose_speaker(detect_faces(coffee), 0)
    faces = [FaceBox(0.1, 0.1, 0.3, 0.3, 0.9), FaceBox(0.6, 0.1, 0.8, 0.3, 0.9)]
    with pytest.raises(GenerationError, match=r"2 face\(s\).*0..1"):
        choose_speaker(faces, 2)


def test_mask_picture_is_pooled_to_the_latent_grid():
    """A picture white on its right third turns on the right third of the latent columns; an empty one fails."""
    picture = np.zeros((60, 90), np.uint8)
    picture[:, 60:] = 255
    mask = image_mask(picture, 3, 9)
    assert mask[:, 6:].all() and not mask[:, :6].any()
    with pytest.raises(GenerationError, match="empty"):
        image_mask(np.zeros((8, 8, 3), np.uint8), 2, 2)
