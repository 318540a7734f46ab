"""Generate the test corpus: real images and video turned into files with known ground truth.

``generate_corpus(out_dir, profile="tiny", seed=0)`` writes videos in nested folders and
``out_dir/ground_truth.json``; the same seed gives the same truth and (for x264/AAC files) the
same bytes. Scene cuts sit on whole frames at 25 fps, at least 2 s apart and at least 2 s from
either end of the file, so scene-detection tolerances are clean.

The folder is shared with other data: only files listed in a previous ``ground_truth.json`` of
ours are replaced or removed, a foreign file at one of our paths aborts the run before anything
is written, and a rerun whose files are all present and unchanged writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import zlib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from omnihuman_pipeline.corpus import encode, synth
from omnihuman_pipeline.corpus.talking import generate_talking_corpus, write_heldout_speech
from omnihuman_pipeline.media import errors as media_errors

logger = logging.getLogger(__name__)

GROUND_TRUTH_FILE = "ground_truth.json"
GENERATOR = "omnihuman_pipeline.corpus"
SCHEMA_VERSION = 1
FPS = synth.VIDEO_FPS
FRAME_HW = (256, 320)  # (height, width): 256 px short side, the motion scorer's analysis scale
# the scan statuses a single file can earn (duplicate/failed depend on other files / our own bugs)
STATUSES = tuple(s for s in media_errors.STATUSES if s not in (media_errors.DUPLICATE, media_errors.FAILED))
PROFILES = ("tiny", "demo", "small")
# the learning profile's extra synced talking clips (corpus/talking.py) and held-out driving speech files
EXTRA_TALKING = {"small": 40}
HELDOUT_DRIVES = {"small": 4}


@dataclass
class VideoTruth:
    """Ground truth for one file of the corpus.

    Times are seconds from the start of the file; ``cut_frames`` are the same cuts as frame indices
    at 25 fps (the first frame of the new scene). ``width``/``height`` are the display size, after
    ``rotation`` (degrees counterclockwise, FFmpeg's convention) is applied.
    """

    relpath: str  # POSIX path relative to the corpus root
    kind: str
    expected_status: list[str]  # accepted scan statuses, preferred first
    has_audio: bool
    fps: float  # nominal (average for VFR); 0 when there is no video
    duration_s: float
    width: int
    height: int
    rotation: int = 0
    cuts_s: list[float] = field(default_factory=list)
    cut_frames: list[int] = field(default_factory=list)
    cut_kinds: list[str] = field(default_factory=list)  # "hard" | "hue_only"
    segments: list[dict] = field(default_factory=list)  # start_s, end_s, source, person, motion
    # Extras for tests and reports.
    n_frames: int = 0  # frames written (before any damage)
    decodable_frames: int = 0  # frames PyAV decodes from the file as written
    vfr: bool = False
    container: str = ""
    video_codec: str | None = None
    pix_fmt: str | None = None
    audio_codec: str | None = None
    audio_sr: int | None = None
    audio_channels: int = 0
    coded_width: int = 0  # stored frame size, before rotation
    coded_height: int = 0
    size_bytes: int = 0
    sha256: str = ""
    notes: str = ""
    # Talking clips (corpus/talking.py): lip-sync truth, None elsewhere.
    sync_offset_frames: int | None = None  # SyncNet sign: > 0 audio leads the mouth
    synced: bool | None = None
    speech: bool | None = None
    n_faces: int | None = None

    @classmethod
    def from_dict(cls, d: dict) -> VideoTruth:
        """Build from a ``ground_truth.json`` entry, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# ----------------------------------------------------------------------------------------------
# Specs: what each file contains
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shot:
    source: str  # astronaut | coffee | chelsea | lfw | carphone
    motion: str  # static | normal | shaky
    seconds: float
    hue_cut_s: float | None = None  # a hue-only cut this far into the shot
    hue_deg: float = 120.0
    hand: bool = False  # a (drawn) hand raised into the frame


@dataclass(frozen=True)
class _Spec:
    relpath: str
    kind: str
    shots: tuple[_Shot, ...] = ()
    expected_status: tuple[str, ...] = ("ok",)
    hw: tuple[int, int] = FRAME_HW  # display (height, width)
    audio: tuple[int, int] | None = None  # (sample_rate, channels)
    rotation: int = 0
    vfr: bool = False
    damage: str | None = None  # truncate | corrupt | text | empty | audio_only
    notes: str = ""


def _specs(profile: str) -> list[_Spec]:
    s = _Shot
    specs = [
        _Spec("multi/three_scenes.mp4", "multi_scene",
              (s("astronaut", "normal", 3.0), s("coffee", "normal", 2.0), s("carphone", "normal", 3.0)),
              audio=(48_000, 2)),
        # a no-person source: MediaPipe misses a person whose skin turned blue (a detector limit, not a
        # scene-split one), and this file tests the scene split
        _Spec("multi/hue_cut.mkv", "hue_cut", (s("coffee", "normal", 5.0, hue_cut_s=2.4),),
              notes="same image and camera path; hue rotated 120 deg from the cut on, luma kept"),
        _Spec("multi/four_scenes.mov", "multi_scene",
              (s("chelsea", "normal", 2.0), s("carphone", "normal", 2.0), s("astronaut", "static", 2.0),
               s("coffee", "normal", 2.0)), audio=(44_100, 1)),
        _Spec("single/static_person.mp4", "static", (s("astronaut", "static", 3.0),), audio=(48_000, 1),
              notes="identical frames plus imperceptible sensor noise (std 0.6 levels)"),
        _Spec("single/shaky_person.mp4", "shaky", (s("astronaut", "shaky", 3.0),),
              notes="independent per-frame jitter up to 18 px and 3 deg roll"),
        _Spec("single/no_person_coffee.webm", "no_person", (s("coffee", "normal", 3.0),), audio=(48_000, 2)),
        _Spec("single/no_person_chelsea.avi", "no_person", (s("chelsea", "normal", 3.0),)),
        _Spec("single/talking_head.mp4", "talking_head", (s("carphone", "normal", 4.0),), audio=(48_000, 1),
              notes="real talking head (carphone, 29.97->25 fps); the audio is synthetic and not lip-synced"),
        _Spec("single/half_body_hand.mp4", "half_body_hand", (s("astronaut", "normal", 3.0, hand=True),),
              audio=(48_000, 1), notes="half-body astronaut with a drawn open hand raised into the lower right"),
        _Spec("single/lfw_face_lowres.mp4", "low_quality", (s("lfw", "normal", 2.0),),
              notes="25x25 grey LFW face upscaled to 320x256: a person at very low quality"),
        _Spec("edge/vfr.mp4", "vfr", (s("astronaut", "normal", 3.0),), vfr=True, audio=(48_000, 1),
              notes="frame intervals uniform in 20-60 ms; fps is the nominal 25"),
        _Spec("edge/phone_rotated.mp4", "rotated", (s("astronaut", "normal", 3.0),), hw=(448, 256),
              rotation=-90, audio=(44_100, 2),
              notes="coded 448x256 landscape with a -90 deg display matrix, displayed as 256x448 portrait"),
        _Spec("edge/odd_175x143.mp4", "odd_size", (s("carphone", "normal", 2.5),), hw=(143, 175),
              notes="odd width and height; libx264 yuv444p"),
        _Spec("edge/uhd_2160x3840.mp4", "uhd", (s("astronaut", "normal", 2.0),), hw=(3840, 2160),
              notes="4K portrait (a phone held upright): a 16:9 landscape view of the square astronaut "
                    "would cut her head off, which is a person-detection question, not a 4K one"),
        _Spec("edge/ünïcödé_视频.mp4", "non_ascii", (s("chelsea", "normal", 2.0),), audio=(48_000, 1)),
        _Spec("edge/very_short.mp4", "very_short", (s("carphone", "normal", 12 / FPS),),
              expected_status=("too_short",), notes="12 frames"),
        _Spec("bad/truncated.mp4", "truncated", (s("astronaut", "normal", 4.0),), audio=(48_000, 1),
              expected_status=("truncated",), damage="truncate",
              notes="faststart mp4 cut at 55 % of its bytes: opens, decodes partially, then errors"),
        _Spec("bad/corrupt.mp4", "corrupt", (s("coffee", "normal", 2.0),), expected_status=("unreadable",),
              damage="corrupt", notes="valid ftyp box, random bytes after it (no moov)"),
        _Spec("bad/not_a_video.mp4", "not_video", expected_status=("unreadable",), damage="text",
              notes="plain text with a video extension"),
        _Spec("bad/empty.mp4", "empty", expected_status=("empty",), damage="empty", notes="zero bytes"),
        _Spec("bad/audio_only.mp4", "audio_only", expected_status=("no_video_stream",), audio=(44_100, 1),
              damage="audio_only", notes="AAC speech-like audio, 3 s, no video stream"),
    ]
    if profile == "demo":
        specs += [
            _Spec("multi/long_mix.mp4", "multi_scene",
                  (s("carphone", "normal", 4.0), s("chelsea", "normal", 3.0), s("astronaut", "static", 3.0),
                   s("coffee", "normal", 3.0), s("astronaut", "normal", 4.0)), audio=(48_000, 2)),
            _Spec("multi/hue_and_hard.mov", "multi_scene",
                  (s("coffee", "normal", 5.0, hue_cut_s=2.5, hue_deg=150.0), s("carphone", "normal", 4.0),
                   s("chelsea", "normal", 3.0)), audio=(44_100, 1)),
            _Spec("single/shaky_cat.mp4", "shaky", (s("chelsea", "shaky", 3.0),), audio=(48_000, 1)),
            _Spec("single/static_coffee.mkv", "static", (s("coffee", "static", 3.0),)),
        ]
    elif profile not in ("tiny", "small"):
        raise ValueError(f"unknown profile {profile!r}; expected one of {PROFILES}")
    return specs


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------


def _item_seed(seed: int, relpath: str) -> int:
    return (zlib.crc32(relpath.encode("utf-8")) ^ (seed * 0x9E3779B1)) & 0xFFFFFFFF


def _render_shot(shot: _Shot, n: int, hw: tuple[int, int], rng: np.random.Generator,
                 times_s: np.ndarray | None = None) -> np.ndarray:
    px = min(hw) / 256.0  # motion is specified at a 256 px short side
    if shot.source == "carphone":
        start = float(rng.uniform(0.0, 3.95 - n / FPS)) if n / FPS < 3.9 else 0.0
        frames = synth.resize_frames(synth.load_carphone(n_frames=n, start_s=start), hw)
    else:
        image = synth.load_image(shot.source, index=int(rng.integers(0, 100)))
        sub_seed = int(rng.integers(0, 2**31))
        if shot.motion == "static":
            frames = synth.static(image, n, hw, noise_std=0.6, seed=sub_seed)
        elif shot.motion == "shaky":
            frames = synth.shaky(image, n, hw, 18.0 * px, seed=sub_seed)
        else:
            frames = synth.ken_burns(image, n, hw, speed=float(rng.uniform(1.2, 2.0)) * px,
                                     direction_deg=float(rng.uniform(0, 360)), zoom=1.08, times_s=times_s)
    if shot.hue_cut_s is not None:
        k = round(shot.hue_cut_s * FPS)
        frames[k:] = synth.hue_rotate(frames[k:], shot.hue_deg)
    if shot.hand:
        frames = synth.with_hand(frames)
    return frames


def _vfr_times(seconds: float, rng: np.random.Generator) -> np.ndarray:
    intervals = rng.uniform(0.020, 0.060, int(seconds * FPS * 2))
    times = np.concatenate([[0.0], np.cumsum(intervals)])
    return np.round(times[times < seconds - 0.030], 4)


def _truth_for_shots(spec: _Spec) -> tuple[list[dict], list[float], list[int], list[str]]:
    segments, cuts_s, cut_frames, kinds = [], [], [], []
    frame = 0
    for i, shot in enumerate(spec.shots):
        n = round(shot.seconds * FPS)
        if i > 0:
            cuts_s.append(frame / FPS)
            cut_frames.append(frame)
            kinds.append("hard")
        bounds = [frame, frame + n]
        if shot.hue_cut_s is not None:
            k = frame + round(shot.hue_cut_s * FPS)
            bounds = [frame, k, frame + n]
            cuts_s.append(k / FPS)
            cut_frames.append(k)
            kinds.append("hue_only")
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            segments.append({"start_s": a / FPS, "end_s": b / FPS, "source": shot.source,
                             "person": synth.SOURCE_HAS_PERSON[shot.source], "motion": shot.motion,
                             "hands": shot.hand})
        frame += n
    return segments, cuts_s, cut_frames, kinds


def _count_decodable(path: Path) -> int:
    import av

    n = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return 0
            for _ in container.decode(video=0):
                n += 1
    except (av.error.FFmpegError, OSError):
        pass
    return n


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_item(spec: _Spec, dst: Path, seed: int, scratch: Path) -> VideoTruth:
    """Render ``spec`` into ``dst`` (a temporary name) and return its truth (sha/size filled later)."""
    rng = np.random.default_rng(_item_seed(seed, spec.relpath))
    ext = Path(spec.relpath).suffix.lower()
    truth = VideoTruth(relpath=spec.relpath, kind=spec.kind, expected_status=list(spec.expected_status),
                       has_audio=False, fps=0.0, duration_s=0.0, width=0, height=0, container=ext[1:],
                       notes=spec.notes)
    if spec.damage == "empty":
        dst.write_bytes(b"")
        return truth
    if spec.damage == "text":
        dst.write_text("This is a plain-text note saved with a video extension; it holds no media.\n" * 20,
                       encoding="utf-8")
        return truth

    audio = None
    if spec.audio is not None:
        sr, ch = spec.audio
        seconds = sum(sh.seconds for sh in spec.shots) or 3.0
        audio = synth.speech_like_audio(seconds, sr, f0_hz=float(rng.uniform(100, 180)), channels=ch,
                                        seed=int(rng.integers(0, 2**31)))
        truth.has_audio, truth.audio_sr, truth.audio_channels = True, sr, ch
    if spec.damage == "audio_only":
        written = encode.write_audio(dst, audio, sample_rate=spec.audio[0])
        truth.audio_codec, truth.duration_s = written.audio_codec, round(written.duration_s, 6)
        return truth

    times = None
    if spec.vfr:
        times = _vfr_times(spec.shots[0].seconds, rng)
        frames = _render_shot(spec.shots[0], len(times), spec.hw, rng, times_s=times)
    else:
        frames = np.concatenate([_render_shot(sh, round(sh.seconds * FPS), spec.hw, rng) for sh in spec.shots])
    segments, cuts_s, cut_frames, kinds = _truth_for_shots(spec)
    coded = encode.coded_from_display(frames, spec.rotation)
    target = dst if spec.damage is None else scratch / f"intact{ext}"
    written = encode.write_video(target, coded, fps=FPS, timestamps_s=times, audio=audio,
                                 sample_rate=spec.audio[0] if spec.audio else 48_000, rotation=spec.rotation,
                                 faststart=spec.damage == "truncate",
                                 # x264 veryfast takes ~9 s for 2 s of 4K on 2 cores; ultrafast ~3 s.
                                 preset="ultrafast" if max(spec.hw) > 1920 else "veryfast",
                                 crf=23 if max(spec.hw) > 1920 else 18)
    if spec.damage == "truncate":
        encode.truncate_copy(target, dst, 0.55)
    elif spec.damage == "corrupt":
        head = int.from_bytes(target.read_bytes()[:4], "big")  # the ftyp box
        encode.corrupt_copy(target, dst, keep_head=head, seed=int(rng.integers(0, 2**31)))

    duration = round(written.duration_s, 6)
    if spec.vfr:
        segments[-1]["end_s"] = duration
    truth.fps = float(FPS)
    truth.duration_s = duration
    truth.height, truth.width = spec.hw
    truth.coded_height, truth.coded_width = coded.shape[1:3]
    truth.rotation = spec.rotation
    truth.cuts_s, truth.cut_frames, truth.cut_kinds = cuts_s, cut_frames, kinds
    truth.segments = segments
    truth.n_frames = written.n_frames
    truth.vfr = spec.vfr
    truth.video_codec, truth.pix_fmt, truth.audio_codec = written.video_codec, written.pix_fmt, written.audio_codec
    if spec.damage == "corrupt":
        # Nothing of the stream survives; keep only what the file claims to be.
        truth.fps, truth.duration_s, truth.width, truth.height = 0.0, 0.0, 0, 0
        truth.coded_width = truth.coded_height = 0
        truth.segments, truth.has_audio, truth.audio_codec, truth.audio_sr, truth.audio_channels = [], False, None, None, 0
    return truth


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------


def load_ground_truth(path: str | os.PathLike) -> list[VideoTruth]:
    """Read ``ground_truth.json`` (a corpus root folder or the file itself) into :class:`VideoTruth` rows."""
    path = Path(path)
    if path.is_dir():
        path = path / GROUND_TRUTH_FILE
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [VideoTruth.from_dict(d) for d in doc["videos"]]


def _read_own_manifest(out_dir: Path) -> dict | None:
    path = out_dir / GROUND_TRUTH_FILE
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FileExistsError(f"{path} exists and is not a corpus ground truth; move it away") from exc
    if not isinstance(doc, dict) or doc.get("generator") != GENERATOR:
        raise FileExistsError(f"{path} exists and was not written by {GENERATOR}; move it away")
    return doc


def _up_to_date(out_dir: Path, doc: dict, profile: str, seed: int) -> bool:
    if (doc.get("schema_version"), doc.get("profile"), doc.get("seed")) != (SCHEMA_VERSION, profile, seed):
        return False
    for row in doc["videos"]:
        p = out_dir / row["relpath"]
        if not p.is_file() or p.stat().st_size != row["size_bytes"] or _sha256(p) != row["sha256"]:
            return False
    return True


def _talking_truth(out_dir: Path, talking: dict) -> VideoTruth:
    """A `VideoTruth` for a clip of `corpus.talking` (a real face whose mouth follows the audio)."""
    import av

    path = out_dir / talking["relpath"]
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        width, height, codec = video.codec_context.width, video.codec_context.height, video.codec_context.name
        audio_sr, channels = audio.rate, audio.layout.nb_channels
    segment = {"start_s": 0.0, "end_s": talking["duration_s"], "source": "astronaut_face", "person": True,
               "motion": "normal"}
    return VideoTruth(
        relpath=talking["relpath"], kind=f"talking_{talking['kind']}", expected_status=["ok"], has_audio=True,
        fps=float(FPS), duration_s=talking["duration_s"], width=width, height=height, segments=[segment],
        n_frames=talking["n_frames"], decodable_frames=talking["n_frames"], container="mp4", video_codec=codec,
        audio_codec="aac", audio_sr=audio_sr, audio_channels=channels, coded_width=width, coded_height=height,
        size_bytes=path.stat().st_size, sha256=_sha256(path), sync_offset_frames=talking["offset_frames"],
        synced=talking["synced"], speech=talking["speech"], n_faces=talking["n_faces"],
        notes="astronaut face, mouth opened by the speech envelope; audio shifted by a known offset",
    )


def generate_corpus(out_dir: Path, *, profile: str = "tiny", seed: int = 0) -> list[VideoTruth]:
    """Write the corpus and its ``ground_truth.json`` into ``out_dir``.

    Args:
        out_dir: corpus root (created if missing); may hold unrelated files, which are left alone.
        profile: ``tiny`` (~20 files, ~60 s of video, for tests and the CPU demo), ``demo`` (more
            and longer multi-scene videos) or ``small`` (tiny plus 40 synced talking clips with five
            voices and held-out driving speech under ``talking/heldout/``: the learning profile's corpus).
        seed: drives camera paths, jitter, noise, carphone offsets and audio; cut times and file
            list depend only on the profile.

    Returns:
        One :class:`VideoTruth` per file, in ``ground_truth.json`` order.

    Raises:
        FileExistsError: a file at one of the corpus paths (or ``ground_truth.json``) was not
            written by this generator.
    """
    out_dir = Path(out_dir)
    specs = _specs(profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = _read_own_manifest(out_dir)
    if previous is not None and _up_to_date(out_dir, previous, profile, seed):
        logger.info("corpus in %s is up to date (profile=%s, seed=%d)", out_dir, profile, seed)
        return [VideoTruth.from_dict(d) for d in previous["videos"]]

    owned = {row["relpath"]: row for row in (previous or {}).get("videos", [])}
    foreign = [sp.relpath for sp in specs if (out_dir / sp.relpath).exists() and sp.relpath not in owned]
    if foreign:
        raise FileExistsError(f"refusing to overwrite files not written by {GENERATOR} in {out_dir}: {foreign}")

    truths: list[VideoTruth] = []
    with tempfile.TemporaryDirectory(prefix=".corpus-", dir=out_dir) as tmp:
        scratch = Path(tmp)
        for i, spec in enumerate(specs):
            staged = scratch / f"item{i:03d}{Path(spec.relpath).suffix.lower()}"
            item_scratch = scratch / f"work{i:03d}"
            item_scratch.mkdir()
            truth = _write_item(spec, staged, seed, item_scratch)
            truth.decodable_frames = _count_decodable(staged)
            truth.size_bytes = staged.stat().st_size
            truth.sha256 = _sha256(staged)
            final = out_dir / spec.relpath
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, final)  # atomic: a killed run never leaves a half-written video
            shutil.rmtree(item_scratch)
            truths.append(truth)

    truths += [_talking_truth(out_dir, t) for t in
               generate_talking_corpus(out_dir, seed=seed, n_extra=EXTRA_TALKING.get(profile, 0))]
    if HELDOUT_DRIVES.get(profile):
        write_heldout_speech(out_dir, HELDOUT_DRIVES[profile], seed=seed)

    # Files from an earlier run of ours that this profile no longer lists, if the user left them as we wrote them.
    listed = {t.relpath for t in truths}
    for relpath, row in owned.items():
        p = out_dir / relpath
        if relpath not in listed and p.is_file() and _sha256(p) == row.get("sha256"):
            p.unlink()

    doc = {"generator": GENERATOR, "schema_version": SCHEMA_VERSION, "profile": profile, "seed": seed,
           "fps": FPS, "statuses": list(STATUSES), "videos": [asdict(t) for t in truths]}
    tmp_json = out_dir / f".{GROUND_TRUTH_FILE}.tmp"
    tmp_json.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp_json, out_dir / GROUND_TRUTH_FILE)
    return truths
