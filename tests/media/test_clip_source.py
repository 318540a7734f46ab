"""Range reads of a source video (seek to the keyframe before, decode forward) equal the full read's frames."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from omnihuman_pipeline.media.clip_source import ClipSpan, span_audio, span_frames, to_rgb
from omnihuman_pipeline.media.decode import FrameReader, audio_segment, decode_audio, rotate_yuv420p
from omnihuman_pipeline.media.probe import probe


def _frames(n: int, h: int = 96, w: int = 160, seed: int = 0) -> np.ndarray:
    """Textured frames that differ from each other (a moving gradient plus fixed noise)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 40, (h, w, 3), dtype=np.uint8)
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        base = ((x * 2 + y + 9 * i) % 200).astype(np.uint8)
        out.append(np.stack([base, np.roll(base, i, 1), 255 - base], -1) + noise)
    return np.stack(out)


def write_source(path: Path, frames: np.ndarray, *, times_s: list[float] | None = None, gop: int = 8,
                 rotation: int = 0, audio_s: float | None = None) -> Path:
    """An H.264 file with a keyframe every `gop` frames, B-frames, optional VFR times, display rotation and a
    48 kHz tone."""
    tb = Fraction(1, 90_000)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = tb
        stream.options = {"crf": "10", "g": str(gop), "bf": "2", "keyint_min": str(gop), "sc_threshold": "0"}
        if rotation:
            stream.set_display_rotation(rotation)
        astream = container.add_stream("aac", rate=48_000, layout="mono") if audio_s else None
        times = times_s if times_s is not None else [i / 25 for i in range(len(frames))]
        for frame, t in zip(frames, times, strict=True):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts, vf.time_base = round(t / tb), tb
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if astream is not None:
            t = np.arange(int(audio_s * 48_000)) / 48_000
            tone = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)[None]
            af = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
            af.sample_rate, af.pts = 48_000, 0
            for packet in [*astream.encode(af), *astream.encode()]:
                container.mux(packet)
    return path


def _yuv(frames) -> list[np.ndarray]:
    return [f.to_ndarray().copy() for f in frames]


SOURCES = {
    "cfr_25": {},
    "vfr_30": {"times_s": list(np.cumsum(np.r_[0, np.random.default_rng(1).uniform(0.025, 0.045, 59)]))},
    "rate_50": {"times_s": [i / 50 for i in range(90)]},
    "rotated_90": {"rotation": -90},
}


@pytest.mark.parametrize("name", SOURCES)
def test_range_reads_equal_the_full_read(tmp_path, name):
    """Every tick range, read by seeking, gives the full read's frames for those ticks, and seeks (decodes fewer
    frames than a read from the start) once the range is past the first keyframe interval."""
    n = len(SOURCES[name].get("times_s", range(60)))
    path = write_source(tmp_path / f"{name}.mp4", _frames(n), **SOURCES[name])
    info = probe(path)
    size = (64, 106) if info.rotation in (90, 270) else (106, 64)
    full = FrameReader(path, fps=25, analysis_size=None, output_size=size, rotation=info.rotation, threads=False)
    want = _yuv(t.output for t in full)
    assert len(want) > 30 and want[0].shape == (size[1] * 3 // 2, size[0])
    for start, stop in [(0, 5), (3, 17), (16, 31), (29, len(want)), (len(want) - 1, len(want))]:
        reader = FrameReader(path, fps=25, analysis_size=None, output_size=size, rotation=info.rotation,
                             threads=False, start=start, stop=stop, t0_s=full.t0_s)
        got = [t for t in reader]
        assert [t.index for t in got] == list(range(start, stop))
        assert all(np.array_equal(a, b) for a, b in zip(_yuv(t.output for t in got), want[start:stop], strict=True))
        if start >= 16:  # past the second keyframe: the seek skips frames a read from the start decodes
            unseeked = FrameReader(path, fps=25, analysis_size=None, output_size=size, rotation=info.rotation,
                                   threads=False, start=start, stop=stop)
            assert [t.index for t in unseeked] == list(range(start, stop))
            assert reader.frames_read < unseeked.frames_read - 4, (start, reader.frames_read, unseeked.frames_read)


def test_yuv_rotation_turns_each_plane():
    """A 90° turn of a yuv420p frame equals the RGB picture turned (to within the 4:2:0 round trip)."""
    rgb = _frames(1, 64, 96)[0]
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    turned = rotate_yuv420p(frame, 90)
    assert (turned.width, turned.height) == (64, 96)
    back = turned.reformat(format="rgb24").to_ndarray().astype(int)
    want = np.rot90(frame.reformat(format="rgb24").to_ndarray(), k=-1).astype(int)
    assert np.abs(back - want).mean() < 2.0
    assert rotate_yuv420p(frame, 0) is frame


def test_span_frames_and_audio_are_the_clip_range(tmp_path):
    """`span_frames` yields the range's frames upright at the clip size; `span_audio` is the range's samples of
    the whole decoded track, as curate cuts them."""
    path = write_source(tmp_path / "a.mp4", _frames(50), audio_s=2.0)
    full = FrameReader(path, fps=25, analysis_size=None, output_size=(106, 64), threads=False)
    want = _yuv(t.output for t in full)
    span = ClipSpan(str(path), 20, 35, 25, full.t0_s, 106, 64)
    frames = list(span_frames(span))
    assert len(frames) == 15 and all(np.array_equal(a, b) for a, b in zip(_yuv(frames), want[20:35], strict=True))
    assert to_rgb(iter(frames), (53, 32))[0].shape == (32, 53, 3)
    audio = span_audio(span, 16_000)
    whole, _ = decode_audio(path, 16_000)
    assert np.array_equal(audio, audio_segment(whole, 16_000, 20 / 25, 35 / 25)) and len(audio) == 9600
