"""Probe, constant-rate decode and atomic clip writing on files made by the corpus encoder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from omnihuman_pipeline.corpus import synth
from omnihuman_pipeline.corpus.encode import coded_from_display, write_audio, write_video
from omnihuman_pipeline.media import errors
from omnihuman_pipeline.media.clip_writer import ClipWriter
from omnihuman_pipeline.media.decode import (
    FrameReader,
    area_shrink,
    audio_segment,
    decode_audio,
    fit_short_side,
    rotate_clockwise,
)
from omnihuman_pipeline.media.probe import content_hash, probe


def _ramp(n: int, h: int = 64, w: int = 96) -> np.ndarray:
    """Frames whose mean brightness encodes their index."""
    return np.stack([np.full((h, w, 3), 8 + 5 * i, np.uint8) for i in range(n)])


def test_fit_short_side_keeps_aspect_and_even_sizes():
    """Short side set, aspect kept, sizes even, no upscaling unless asked."""
    assert fit_short_side(1920, 1080, 256) == (456, 256)
    assert fit_short_side(175, 143, 256) == (176, 144)
    assert fit_short_side(175, 143, 256, upscale=True) == (314, 256)
    assert fit_short_side(1080, 1920, 720) == (720, 1280)


def test_rotate_clockwise_matches_display_orientation():
    """90° clockwise puts the first column's bottom pixel at the top-left."""
    img = np.arange(6).reshape(2, 3, 1)
    assert rotate_clockwise(img, 90)[0, 0, 0] == img[1, 0, 0]
    assert rotate_clockwise(img, 90).shape == (3, 2, 1)
    assert np.array_equal(rotate_clockwise(img, 360), img)


def test_constant_rate_file_decodes_every_frame(tmp_path):
    """A 25 fps file yields each of its frames once, in order."""
    path = tmp_path / "ramp.mp4"
    write_video(path, _ramp(30), fps=25, crf=0)
    frames = list(FrameReader(path, fps=25, analysis_size=(48, 32), output_size=(96, 64)))
    assert len(frames) == 30
    means = np.array([f.analysis.mean() for f in frames])
    assert np.all(np.diff(means) > 2)
    assert (frames[0].output.width, frames[0].output.height, frames[0].output.format.name) == (96, 64, "yuv420p")


def test_foreign_rate_is_resampled_by_time(tmp_path):
    """50 fps becomes 25 fps by keeping every second frame; 10 fps repeats each frame."""
    fast, slow = tmp_path / "fast.mp4", tmp_path / "slow.mp4"
    write_video(fast, _ramp(50), fps=50, crf=0)
    write_video(slow, _ramp(10), fps=10, crf=0)
    fast_frames = list(FrameReader(fast, fps=25, analysis_size=(48, 32)))
    slow_frames = list(FrameReader(slow, fps=25, analysis_size=(48, 32)))
    assert len(fast_frames) == 25 and len(slow_frames) == 25
    assert abs(fast_frames[5].analysis.mean() - (8 + 5 * 10)) < 2.5
    slow_means = [round(f.analysis.mean()) for f in slow_frames]
    assert len(set(slow_means)) == 10


def test_variable_frame_rate_maps_to_nearest_frame(tmp_path):
    """Irregular timestamps land each tick on the frame nearest in time."""
    times = np.cumsum([0.0] + [0.02, 0.06] * 10)[:20]
    path = tmp_path / "vfr.mkv"
    write_video(path, _ramp(20), fps=25, timestamps_s=times, crf=0)
    frames = list(FrameReader(path, fps=25, analysis_size=(48, 32)))
    expected_n = round((times[-1] + 0.04) * 25)
    assert abs(len(frames) - expected_n) <= 1
    for f in frames[:-1]:
        nearest = int(np.argmin(np.abs(times - f.time_s)))
        assert abs(f.analysis.mean() - (8 + 5 * nearest)) < 2.5


def test_rotated_video_reports_display_size_and_upright_frames(tmp_path):
    """A 90° phone video probes as portrait and decodes upright."""
    display = synth.ken_burns(synth.load_image("astronaut"), 10, (128, 96))  # portrait H=128, W=96
    path = tmp_path / "phone.mp4"
    write_video(path, coded_from_display(display, -90), fps=25, rotation=-90, crf=10)  # phones store -90
    info = probe(path)
    assert info.rotation == 90 and (info.width, info.height) == (96, 128)
    frame = next(iter(FrameReader(path, fps=25, analysis_size=(96, 128), rotation=info.rotation, small_size=(24, 32))))
    assert frame.analysis.shape == (128, 96, 3) and frame.small.shape == (32, 24, 3)
    assert np.abs(frame.analysis.astype(int) - display[0]).mean() < 12
    area = cv2.resize(frame.analysis, (24, 32), interpolation=cv2.INTER_AREA)  # upright too, and the same picture
    assert np.abs(frame.small.astype(int) - area).mean() < 1.5


@pytest.mark.parametrize("output_size", [(512, 288), None])
def test_small_frames_are_the_analysis_frames_shrunk(tmp_path, output_size):
    """The scene detector's small frames match an OpenCV area resize of the analysis frames (they are one, with or
    without an output picture; swscale from the YUV output picture gave 1.8-2.0 levels on this clip)."""
    path = tmp_path / "astronaut.mp4"
    write_video(path, synth.ken_burns(synth.load_image("astronaut"), 10, (288, 512)), fps=25, crf=10)
    frames = list(FrameReader(path, fps=25, analysis_size=(256, 144), output_size=output_size, small_size=(114, 64)))
    assert len(frames) == 10
    assert all(f.small.shape == (64, 114, 3) and f.small.dtype == np.uint8 for f in frames)
    tolerance = 2.5 if output_size else 1.5
    for f in frames:
        area = cv2.resize(f.analysis, (114, 64), interpolation=cv2.INTER_AREA)
        assert np.abs(f.small.astype(int) - area).mean() < tolerance
    assert all(f.small is None for f in FrameReader(path, fps=25, analysis_size=(256, 144)))


@pytest.mark.parametrize("size", [(114, 64), (100, 60), (57, 32)])
def test_area_shrink_is_an_area_resize(size):
    """Halving by 2 where the sizes allow, then an area resize, is within a level of one area resize."""
    image = cv2.resize(synth.load_image("chelsea"), (456, 256), interpolation=cv2.INTER_AREA)
    ours = area_shrink(image, size)
    area = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    assert ours.shape == area.shape and np.abs(ours.astype(int) - area).max() <= 1


def _float_reference(frame, size: tuple[int, int]) -> np.ndarray:
    """swscale's float RGB output of a decoded frame: the same AREA filter, full chroma, no rounding."""
    from av.video.reformatter import Interpolation, VideoReformatter

    flags = Interpolation.AREA | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT | Interpolation.FULL_CHR_H_INP
    out = VideoReformatter().reformat(frame, width=size[0], height=size[1], format="gbrpf32le", interpolation=flags)
    g, b, r = (np.frombuffer(p, np.float32).reshape(size[1], -1)[:, : size[0]] for p in out.planes)
    return np.stack([r, g, b], -1).astype(np.float64) * 255


def test_analysis_frames_keep_full_chroma(tmp_path):
    """Analysis frames are within 2 levels of a float full-chroma scaling of the decoded picture (PSNR > 48 dB),
    where swscale's packed RGB output, which halves the horizontal chroma, is tens of levels off at colour edges."""
    import av
    from av.video.reformatter import VideoReformatter

    path = tmp_path / "colour.mp4"
    frames = synth.ken_burns(synth.load_image("chelsea"), 6, (288, 512))
    frames[:, :, ::8] = (255, 0, 0)  # one-pixel red lines every 8 columns: chroma detail at the analysis size
    write_video(path, frames, fps=25, crf=4)
    size = (256, 144)
    analysis = [f.analysis for f in FrameReader(path, fps=25, analysis_size=size, threads=False)]
    packed = VideoReformatter()
    with av.open(str(path)) as container:
        decoded = list(container.decode(container.streams.video[0]))
    assert len(decoded) == len(analysis) == 6
    for ours, frame in zip(analysis, decoded, strict=True):
        reference = _float_reference(frame, size)
        error = np.abs(ours.astype(np.float64) - reference)
        assert error.max() <= 2.0
        assert 10 * np.log10(255**2 / np.mean(error**2)) > 48.0
        rgb24 = packed.reformat(frame, width=size[0], height=size[1], format="rgb24", interpolation="AREA")
        assert np.abs(rgb24.to_ndarray().astype(np.float64) - reference).max() > 10 * error.max()


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (lambda p: p.write_bytes(b""), errors.EMPTY),
        (lambda p: p.write_text("not a video, just text\n" * 50), errors.UNREADABLE),
        (lambda p: write_audio(p, np.zeros(16000, np.float32), sample_rate=16000), errors.NO_VIDEO_STREAM),
    ],
)
def test_probe_statuses_for_bad_files(tmp_path, make, status):
    """Empty, non-media and audio-only files raise MediaError with their status."""
    path = tmp_path / "bad.mp4"
    make(path)
    with pytest.raises(errors.MediaError) as info:
        probe(path)
    assert info.value.status == status


def test_clip_writer_round_trip_and_atomicity(tmp_path):
    """Frames and 16 kHz audio survive; nothing but the final file is left."""
    path = tmp_path / "clips" / "c.mp4"
    writer = ClipWriter(path, width=96, height=64, fps=25, crf=0, with_audio=True)
    for frame in _ramp(25):
        writer.write(frame)
    assert not path.exists()
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    writer.close(tone)
    assert sorted(p.name for p in path.parent.iterdir()) == ["c.mp4"]
    info = probe(path)
    assert (info.fps, info.width, info.height, info.audio_sr, info.n_frames) == (25.0, 96, 64, 16000, 25)
    audio, error = decode_audio(path)
    assert error is None and abs(len(audio) - 16000) < 2048
    spectrum = np.abs(np.fft.rfft(audio[2000:14000]))
    assert abs(np.argmax(spectrum) * 16000 / 12000 - 440) < 5
    # the samples themselves, not only the pitch: the AAC round trip keeps 66 dB SNR on this tone (FFmpeg's default
    # two-loop coder; its 3x faster "fast" coder keeps 27 dB here, 40 dB on speech-like audio, so it is not used)
    part = tone[2000:14000]
    lag = min(range(-64, 65), key=lambda k: np.sum((audio[2000 + k:14000 + k] - part) ** 2))
    error = audio[2000 + lag:14000 + lag] - part
    assert lag == 0 and 10 * np.log10(np.sum(part**2) / np.sum(error**2)) > 35


def test_clip_writer_abort_leaves_nothing(tmp_path):
    """An aborted clip leaves no partial file."""
    writer = ClipWriter(tmp_path / "c.mp4", width=96, height=64)
    writer.write(_ramp(1)[0])
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_audio_segment_pads_short_tracks():
    """A segment past the end of the audio is zero-padded to the requested length."""
    audio = np.ones(16000, np.float32)
    seg = audio_segment(audio, 16000, 0.5, 1.5)
    assert len(seg) == 16000 and seg[:8000].all() and not seg[8000:].any()


def test_content_hash_depends_on_bytes_only(tmp_path):
    """Same bytes under two names share an id; one changed byte changes it."""
    a, b, c = tmp_path / "a.bin", tmp_path / "ü b.bin", tmp_path / "c.bin"
    a.write_bytes(b"x" * 5000)
    b.write_bytes(b"x" * 5000)
    c.write_bytes(b"x" * 4999 + b"y")
    assert content_hash(a) == content_hash(b) != content_hash(c)
