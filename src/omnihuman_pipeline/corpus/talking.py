"""Talking-head clips with known lip-sync ground truth, built from a real face photo.

The astronaut portrait (scikit-image) is framed head-and-shoulders; FaceMesh finds its lips once
on the still image, then each frame drops the lower lip and jaw by an amount driven by a syllable
envelope (a remap warp, the gap filled with a dark mouth interior), so the inner-lip distance that
FaceMesh measures follows the envelope. The same envelope shapes the loudness of a formant speech
synthesiser (glottal pulses through vowel formant resonators, fricative noise at some syllable
onsets, pauses between phrases), so "audio loudness follows mouth opening" holds exactly at the
offset we choose. A slow camera drift keeps the clips above the T filters' motion floor.

Offset convention (SyncNet's, see `scoring.lipsync`): ``offset_frames = -audio_delay_frames``;
a clip whose audio is delayed by 3 frames (audio lags the mouth) has ``offset_frames = -3``.

Measured (seed 0, clips decoded from the mp4 files): Silero VAD speech ratio 0.75-0.91 on the seven
talking clips (syllables fill ~65 % of the time; VAD padding bridges short gaps), 0.0 on the silent
clip; FaceMesh's inner-lip distance follows the mouth drive with r = 0.99; the whole corpus (8 clips
of 4 s at 256 px) takes ~4 s to generate.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

from omnihuman_pipeline.corpus import encode, synth

logger = logging.getLogger(__name__)

FPS = synth.VIDEO_FPS
SPEECH_SR = 16_000  # synthesis rate; files carry 48 kHz AAC (less codec priming delay than 16 kHz)
FILE_SR = 48_000
TRUTH_FILE = "talking_truth.json"
SUBDIR = "talking"
FRAME_SIZE = 256  # output frames are FRAME_SIZE x FRAME_SIZE (two-person: FRAME_SIZE x 2*FRAME_SIZE)
MARGIN_S = 0.5  # speech is synthesised this far beyond both clip ends so shifted audio has no gaps

# FaceMesh landmark ids (refine_landmarks=True, 478 points)
UPPER_INNER_LIP, LOWER_INNER_LIP = 13, 14
MOUTH_LEFT, MOUTH_RIGHT = 61, 291
CHIN = 152

# Vowel formants F1-F3 (Hz), adult male averages (Peterson & Barney 1952): a, e, i, o, u, ae, er
VOWELS = np.array(
    [
        [730, 1090, 2440],
        [530, 1840, 2480],
        [270, 2290, 3010],
        [570, 840, 2410],
        [300, 870, 2240],
        [660, 1720, 2410],
        [490, 1350, 1690],
    ],
    dtype=np.float64,
)
FORMANT_BW = np.array([80.0, 100.0, 140.0])


# ----------------------------------------------------------------------------------------------
# Articulation plan: syllables grouped into phrases
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Syllable:
    start_s: float
    dur_s: float
    amp: float  # peak openness / loudness, 0-1
    vowel: int  # row of VOWELS
    fricative: bool  # a noise burst leads the vowel


def syllable_plan(start_s: float, end_s: float, *, seed: int, rate_hz: float = 4.0) -> list[Syllable]:
    """Syllables of 2-6 per phrase with 0.2-0.5 s pauses between phrases, covering [start_s, end_s)."""
    rng = np.random.default_rng(seed)
    plan, pos = [], start_s + rng.uniform(0.0, 0.2)
    while pos < end_s:
        for _ in range(int(rng.integers(2, 7))):
            dur = rng.uniform(0.7, 1.3) / rate_hz
            plan.append(
                Syllable(
                    pos,
                    dur,
                    float(rng.uniform(0.55, 1.0)),
                    int(rng.integers(len(VOWELS))),
                    bool(rng.random() < 0.35),
                )
            )
            pos += dur
        pos += rng.uniform(0.2, 0.5)
    return plan


def openness(plan: list[Syllable], times_s: np.ndarray) -> np.ndarray:
    """Mouth openness / loudness envelope in [0, 1] at `times_s`: a raised-cosine bump per syllable."""
    t = np.asarray(times_s, dtype=np.float64)
    env = np.zeros_like(t)
    for s in plan:
        u = (t - s.start_s) / s.dur_s
        inside = (u > 0) & (u < 1)
        env[inside] = np.maximum(env[inside], s.amp * np.sin(np.pi * u[inside]) ** 2)
    return env


# ----------------------------------------------------------------------------------------------
# Speech synthesis
# ----------------------------------------------------------------------------------------------


def _resonator(x: np.ndarray, freqs: np.ndarray, bw: float, sr: int, block: int) -> np.ndarray:
    """A two-pole resonator whose centre frequency changes per block (`freqs` one per block)."""
    from scipy.signal import lfilter

    out = np.empty_like(x)
    zi = np.zeros(2)
    r = math.exp(-math.pi * bw / sr)
    for b, f in enumerate(freqs):
        seg = slice(b * block, (b + 1) * block)
        a = [1.0, -2 * r * math.cos(2 * math.pi * f / sr), r * r]
        out[seg], zi = lfilter([1.0 - r], a, x[seg], zi=zi)
    return out


def synth_speech(
    plan: list[Syllable],
    start_s: float,
    duration_s: float,
    *,
    seed: int,
    sample_rate: int = SPEECH_SR,
    f0_hz: float = 120.0,
) -> np.ndarray:
    """Formant-synthesised babble following `plan` (glottal pulses, vowel formants, fricatives).

    Args:
        plan: syllables in absolute time.
        start_s: time of the first sample.
        duration_s: length in seconds.
        seed: pitch contour and noise seed.
        sample_rate: Hz.
        f0_hz: mean pitch.

    Returns:
        float32 mono audio [N], peak 0.5, loudness following `openness(plan, t)`.
    """
    rng = np.random.default_rng(seed + 7919)
    n = int(round(duration_s * sample_rate))
    t = start_s + np.arange(n) / sample_rate
    # glottal source: a pulse train with a gliding pitch, spectral tilt from a leaky integrator
    knots = rng.normal(0.0, 0.1, int(duration_s * 3) + 2)
    f0 = f0_hz * np.exp(np.interp(t, np.linspace(t[0], t[-1], len(knots)), knots))
    phase = np.cumsum(f0) / sample_rate
    pulses = np.diff(np.floor(phase), prepend=0.0)
    from scipy.signal import lfilter

    source = lfilter([1.0], [1.0, -0.97], pulses - pulses.mean())
    # per-10-ms vowel targets, linearly gliding between syllables
    block = sample_rate // 100
    n_blocks = -(-n // block)
    bt = start_s + (np.arange(n_blocks) + 0.5) * block / sample_rate
    centres = np.array([s.start_s + s.dur_s / 2 for s in plan])
    formants = np.stack([np.interp(bt, centres, VOWELS[[s.vowel for s in plan], k]) for k in range(3)], 1)
    voiced = sum(
        _resonator(source, formants[:, k], FORMANT_BW[k], sample_rate, block) * g
        for k, g in enumerate((1.0, 0.6, 0.3))
    )
    env = openness(plan, t)
    voiced = voiced / (np.abs(voiced).max() + 1e-9) * env
    # fricatives: high-passed noise in the first 30 % of some syllables
    noise = lfilter([1.0, -1.0], [1.0, -0.3], rng.normal(0.0, 1.0, n))
    fric = np.zeros(n)
    for s in plan:
        if s.fricative:
            u = (t - s.start_s) / (0.3 * s.dur_s)
            inside = (u > 0) & (u < 1)
            fric[inside] = np.maximum(fric[inside], 0.25 * s.amp * np.sin(np.pi * u[inside]))
    sig = voiced + noise / (np.abs(noise).max() + 1e-9) * fric + rng.normal(0.0, 3e-4, n)
    return (0.5 * sig / max(np.abs(sig).max(), 1e-9)).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Face animation
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MouthRig:
    """Lip geometry of the still image (source pixels) that the warp moves."""

    split_y: float  # between the inner lips: above stays, below drops
    centre_x: float
    half_width: float  # of the drop's horizontal bump
    chin_y: float
    neck_y: float  # the drop tapers to zero here
    max_drop: float  # px at openness 1


@cache
def _face_landmarks(name: str) -> np.ndarray:
    import warnings

    from omnihuman_pipeline.scoring._mediapipe import import_mediapipe

    mp = import_mediapipe()

    image = synth.load_image(name)
    with (
        warnings.catch_warnings(),
        mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as fm,
    ):
        # mediapipe 0.10.14 calls a protobuf API deprecated in protobuf 4.25 on every `process()`
        warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")
        result = fm.process(image)
    if not result.multi_face_landmarks:
        raise RuntimeError(f"FaceMesh finds no face in {name}")
    h, w = image.shape[:2]
    pts = np.array([[p.x * w, p.y * h] for p in result.multi_face_landmarks[0].landmark])
    pts.setflags(write=False)
    return pts


def mouth_rig(pts: np.ndarray) -> MouthRig:
    """The warp's geometry from FaceMesh landmarks [478, 2] of the still image."""
    upper, lower = pts[UPPER_INNER_LIP], pts[LOWER_INNER_LIP]
    left, right, chin = pts[MOUTH_LEFT], pts[MOUTH_RIGHT], pts[CHIN]
    width = float(np.linalg.norm(right - left))
    split = float((upper[1] + lower[1]) / 2)
    return MouthRig(
        split,
        float((left[0] + right[0]) / 2),
        0.5 * width,
        float(chin[1]),
        float(chin[1] + 1.2 * (chin[1] - split)),
        0.35 * width,
    )


def open_mouth(image: np.ndarray, rig: MouthRig, amount: float) -> np.ndarray:
    """Drop the lower lip and jaw by `amount` x `rig.max_drop` px and fill the gap with mouth interior.

    Args:
        image: uint8 RGB [H, W, 3], the still the rig was measured on.
        rig: from `mouth_rig`.
        amount: openness in [0, 1].

    Returns:
        uint8 RGB [H, W, 3].
    """
    import cv2

    if amount <= 1e-3:
        return image.copy()
    h, w = image.shape[:2]
    x0 = max(0, int(rig.centre_x - rig.half_width) - 1)
    x1 = min(w, int(rig.centre_x + rig.half_width) + 2)
    y0, y1 = max(0, int(rig.split_y) - 1), min(h, int(rig.neck_y) + 2)
    xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    # lens-shaped opening: full drop mid-mouth, none at the corners
    bump = np.clip(1.0 - ((xs - rig.centre_x) / rig.half_width) ** 2, 0.0, 1.0)
    drop = amount * rig.max_drop * bump  # at the lower lip
    # taper: full drop down to the chin, then linearly to zero at the neck
    taper = np.clip((rig.neck_y - ys) / (rig.neck_y - rig.chin_y), 0.0, 1.0)
    src_y = ys - drop * taper
    patch = cv2.remap(image, xs, src_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # the gap: output rows whose source lies above the split line show the mouth interior
    gap = np.clip(rig.split_y - src_y + 0.5, 0.0, 1.0) * (ys >= rig.split_y)
    depth = np.clip((ys - rig.split_y) / max(rig.max_drop, 1.0), 0.0, 1.0)[..., None]
    interior = (np.array([95.0, 35.0, 40.0]) * (1 - 0.5 * depth)).astype(np.float32)
    patch = patch.astype(np.float32) * (1 - gap[..., None]) + interior * gap[..., None]
    out = image.copy()
    out[y0:y1, x0:x1] = np.clip(np.rint(patch), 0, 255).astype(np.uint8)
    return out


def _camera(
    image: np.ndarray,
    n_frames: int,
    size: tuple[int, int],
    centre: tuple[float, float],
    crop: float,
    *,
    seed: int,
) -> list[np.ndarray]:
    """Affine matrices of a slow drifting, gently zooming camera around `centre` (source px)."""
    rng = np.random.default_rng(seed + 104729)
    angle = rng.uniform(0, 2 * math.pi)
    scale0 = size[1] / crop
    mats = []
    for i in range(n_frames):
        u = i / max(n_frames - 1, 1)
        drift = 0.45 / scale0 * (i - n_frames / 2)  # ~0.45 output px/frame
        sway = 2.0 * math.sin(2 * math.pi * i / 60.0)
        cx = centre[0] + drift * math.cos(angle) + sway
        cy = centre[1] + drift * math.sin(angle)
        mats.append(synth._view_matrix(scale0 * (1.0 + 0.04 * u), (cx, cy), size))
    return mats


def animate_face(
    openings: np.ndarray, *, seed: int, size: int = FRAME_SIZE, mirror: bool = False, name: str = "astronaut"
) -> np.ndarray:
    """Head-and-shoulders frames of the real face whose mouth opens by `openings` (one per frame).

    Args:
        openings: [T] in [0, 1].
        seed: camera path seed.
        size: output square side in px.
        mirror: flip left-right (a second, different-looking person in two-person clips).
        name: a `synth.load_image` face image.

    Returns:
        uint8 RGB [T, size, size, 3].
    """
    import cv2

    image = synth.load_image(name)
    pts = _face_landmarks(name)
    rig = mouth_rig(pts)
    face_w = float(pts[:, 0].max() - pts[:, 0].min())
    centre = (float(pts[:, 0].mean()), float(pts[:, 1].mean()) + 0.25 * face_w)
    mats = _camera(image, len(openings), (size, size), centre, 2.6 * face_w, seed=seed)
    frames = np.empty((len(openings), size, size, 3), np.uint8)
    for i, (a, m) in enumerate(zip(openings, mats, strict=True)):
        frame = cv2.warpAffine(
            open_mouth(image, rig, float(a)),
            m,
            (size, size),
            flags=cv2.INTER_AREA,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        frames[i] = frame[:, ::-1] if mirror else frame
    return frames


# ----------------------------------------------------------------------------------------------
# Clips and corpus
# ----------------------------------------------------------------------------------------------


@dataclass
class TalkingTruth:
    """Ground truth for one talking clip (times in s, offsets in frames at 25 fps)."""

    relpath: str
    kind: str  # "synced" | "unsynced" | "silent" | "two_person"
    offset_frames: int | None  # SyncNet convention: -audio_delay_frames; None when not synced
    audio_delay_frames: int | None  # > 0: audio lags the mouth
    synced: bool
    speech: bool
    n_faces: int
    duration_s: float
    n_frames: int
    seed: int
    speaker: str = "single"  # which face the audio belongs to in two-person clips


@dataclass(frozen=True)
class TalkingClip:
    frames: np.ndarray  # uint8 RGB [T, H, W, 3]
    audio: np.ndarray  # float32 mono [N] at SPEECH_SR
    openings: np.ndarray  # [T] mouth drive of the (first) face


def talking_clip(
    *,
    seed: int,
    duration_s: float = 4.0,
    audio_delay_frames: int = 0,
    audio_seed: int | None = None,
    silent: bool = False,
    two_person: bool = False,
    size: int = FRAME_SIZE,
    f0_hz: float = 120.0,
) -> TalkingClip:
    """One talking clip in memory.

    Args:
        seed: mouth plan (and camera) seed.
        duration_s: clip length.
        audio_delay_frames: audio delayed by this many frames against the mouth (negative: audio early).
        audio_seed: plan seed of the audio when it must not match the mouth (unsynced); default `seed`.
        silent: near-silent audio (-70 dBFS noise) while the mouth still moves.
        two_person: a second (mirrored) face on the right with its own, unrelated mouth motion.
        size: square side of one face view, px.
        f0_hz: mean pitch of the voice.

    Returns:
        `TalkingClip`.
    """
    n = int(round(duration_s * FPS))
    times = (np.arange(n) + 0.5) / FPS
    mouth_plan = syllable_plan(-MARGIN_S, duration_s + MARGIN_S, seed=seed)
    openings = openness(mouth_plan, times)
    frames = animate_face(openings, seed=seed, size=size)
    if two_person:
        other = openness(syllable_plan(-MARGIN_S, duration_s + MARGIN_S, seed=seed + 5000), times)
        frames = np.concatenate([frames, animate_face(0.6 * other, seed=seed + 1, size=size, mirror=True)], 2)
    n_audio = int(round(duration_s * SPEECH_SR))
    if silent:
        audio = np.random.default_rng(seed).normal(0.0, 3e-4, n_audio).astype(np.float32)
        return TalkingClip(frames, audio, openings)
    a_seed = seed if audio_seed is None else audio_seed
    plan = mouth_plan if audio_seed is None else syllable_plan(-MARGIN_S, duration_s + MARGIN_S, seed=a_seed)
    full = synth_speech(plan, -MARGIN_S, duration_s + 2 * MARGIN_S, seed=a_seed, f0_hz=f0_hz)
    start = int(round((MARGIN_S - audio_delay_frames / FPS) * SPEECH_SR))
    return TalkingClip(frames, full[start : start + n_audio], openings)


# (name, kind, audio_delay_frames, extra kwargs); seeds are base seed + index
_CLIPS: list[tuple[str, str, int | None, dict]] = [
    ("synced_0", "synced", 0, {}),
    ("audio_late_3", "synced", 3, {}),
    ("audio_early_3", "synced", -3, {}),
    ("audio_late_8", "synced", 8, {}),
    ("audio_early_8", "synced", -8, {}),
    ("unsynced", "unsynced", None, {"audio_seed_offset": 1000}),
    ("silent", "silent", None, {"silent": True}),
    ("two_person", "two_person", 0, {"two_person": True}),
]


def _resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = math.gcd(rate_in, rate_out)
    return resample_poly(audio, rate_out // g, rate_in // g).astype(np.float32)


# Pitches (Hz) of the extra synced clips; the held-out drives' (pitch, syllable rate in Hz) lie between and
# beyond them, at other syllable rates than the training clips' 4 Hz, with other seeds.
TRAIN_VOICES = (95.0, 120.0, 150.0, 190.0, 230.0)
HELDOUT_VOICES = ((105.0, 4.6), (170.0, 3.4), (210.0, 4.0), (250.0, 4.8))
EXTRA_DURATIONS_S = (4.0, 5.0, 6.0)
EXTRA_SUBDIR, HELDOUT_SUBDIR = "extra", "heldout"
EXTRA_SEED, HELDOUT_SEED = 100, 900


def _extra_clips(n: int) -> list[tuple[str, str, int | None, dict]]:
    """``n`` more synced clips, each with its own mouth plan, voice and length (the learning profile's data)."""
    return [(f"{EXTRA_SUBDIR}/talk_{k:03d}", "synced", 0,
             {"seed_offset": EXTRA_SEED + k, "f0_hz": TRAIN_VOICES[k % len(TRAIN_VOICES)],
              "duration_s": EXTRA_DURATIONS_S[k % len(EXTRA_DURATIONS_S)]}) for k in range(n)]


def heldout_speech(k: int, *, seed: int = 0, duration_s: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Held-out driving speech number ``k``: a voice and a syllable plan no training clip has.

    Returns:
        (float32 audio [N] at ``SPEECH_SR``, the mouth openness the speech was shaped by, one per 25 fps frame).
    """
    f0, rate = HELDOUT_VOICES[k % len(HELDOUT_VOICES)]
    plan = syllable_plan(-MARGIN_S, duration_s + MARGIN_S, seed=seed + HELDOUT_SEED + k, rate_hz=rate)
    full = synth_speech(plan, -MARGIN_S, duration_s + 2 * MARGIN_S, seed=seed + HELDOUT_SEED + k, f0_hz=f0)
    start, n = int(round(MARGIN_S * SPEECH_SR)), int(round(duration_s * SPEECH_SR))
    times = (np.arange(int(round(duration_s * FPS))) + 0.5) / FPS
    return full[start:start + n], openness(plan, times)


def write_heldout_speech(out_dir: str | os.PathLike, n: int, *, seed: int = 0, duration_s: float = 4.0) -> list[str]:
    """``talking/heldout/speech_<k>.wav`` (16 kHz PCM) for ``k < n`` plus ``silence.wav``; returns their relpaths.

    A curate run never reads them (only video extensions are scanned): they are driving audio for evaluation.
    """
    from scipy.io import wavfile

    folder = Path(out_dir) / SUBDIR / HELDOUT_SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    rel = []
    clips = [(f"speech_{k}.wav", heldout_speech(k, seed=seed, duration_s=duration_s)[0]) for k in range(n)]
    silence = np.random.default_rng(seed).normal(0.0, 3e-4, int(round(duration_s * SPEECH_SR))).astype(np.float32)
    for name, audio in [*clips, ("silence.wav", silence)]:
        tmp = folder / f".{name}.tmp"
        wavfile.write(tmp, SPEECH_SR, np.clip(audio * 32767, -32768, 32767).astype(np.int16))
        os.replace(tmp, folder / name)
        rel.append(f"{SUBDIR}/{HELDOUT_SUBDIR}/{name}")
    return rel


def generate_talking_corpus(
    out_dir: str | os.PathLike, *, seed: int = 0, duration_s: float = 4.0, n_extra: int = 0
) -> list[dict]:
    """Write the talking clips (mp4, H.264 + 48 kHz AAC) and `talking/talking_truth.json`.

    Args:
        out_dir: corpus root; files go to `out_dir/talking/`.
        seed: base seed; the same seed gives the same clips.
        duration_s: length of every clip of the fixed set.
        n_extra: more synced clips under `talking/extra/`, each with its own voice, mouth plan and length.

    Returns:
        One `TalkingTruth` dict per clip (relpath relative to `out_dir`).
    """
    root = Path(out_dir)
    folder = root / SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    if n_extra:
        (folder / EXTRA_SUBDIR).mkdir(exist_ok=True)
    truths = []
    for i, (name, kind, delay, opts) in enumerate([*_CLIPS, *_extra_clips(n_extra)]):
        clip_seed = seed + opts.get("seed_offset", i)
        audio_seed = clip_seed + opts["audio_seed_offset"] if "audio_seed_offset" in opts else None
        clip = talking_clip(
            seed=clip_seed,
            duration_s=opts.get("duration_s", duration_s),
            audio_delay_frames=delay or 0,
            audio_seed=audio_seed,
            silent=opts.get("silent", False),
            two_person=opts.get("two_person", False),
            f0_hz=opts.get("f0_hz", 120.0),
        )
        rel = f"{SUBDIR}/{name}.mp4"
        tmp = folder / f".{name.replace('/', '_')}.tmp.mp4"
        encode.write_video(
            tmp, clip.frames, fps=FPS, audio=_resample(clip.audio, SPEECH_SR, FILE_SR), sample_rate=FILE_SR
        )
        os.replace(tmp, root / rel)
        synced = kind in ("synced", "two_person")
        truths.append(
            asdict(
                TalkingTruth(
                    relpath=rel,
                    kind=kind,
                    offset_frames=-delay if synced else None,
                    audio_delay_frames=delay if synced else None,
                    synced=synced,
                    speech=kind != "silent",
                    n_faces=2 if kind == "two_person" else 1,
                    duration_s=len(clip.frames) / FPS,
                    n_frames=len(clip.frames),
                    seed=clip_seed,
                    speaker="left" if kind == "two_person" else "single",
                )
            )
        )
    tmp = folder / f".{TRUTH_FILE}.tmp"
    tmp.write_text(json.dumps(truths, indent=2) + "\n")
    os.replace(tmp, folder / TRUTH_FILE)
    logger.info("wrote %d talking clips to %s", len(truths), folder)
    return truths
