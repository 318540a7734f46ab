"""Lip sync (paper §3.3, A-eligibility): audio-video offset and confidence, SyncNet's procedure.

Signal "sync": `value` is the confidence, extras `offset` and `conf` become the manifest columns
`sync_offset` and `sync_conf` (next to `sync`, `sync_backend`, `sync_error`).

Procedure (joonson/syncnet_python `SyncNetInstance.evaluate`): per video frame t a video feature and
an audio feature; for every shift j in 0..2*VSHIFT a distance between video t and audio
t + j - VSHIFT, averaged over t, gives the distance curve; `offset = VSHIFT - argmin(curve)` and
`conf = median(curve) - min(curve)`.

Sign convention (SyncNet's, kept so both backends and published SyncNet numbers agree): video
frame t matches audio frame t - offset, so **positive offset = audio leads the video** (the sound
comes before the mouth moves) and **negative offset = audio lags** (delayed audio). Checked on
joonson/syncnet_python issue #2: delaying the example's audio by 0.25 / 0.5 s moved its offset
from 4 to -2 / -9.

Backends:
- "mouth_envelope" (offline default): the video feature is the mouth opening per frame from
  MediaPipe FaceMesh (inner-lip distance, landmarks 13/14, over the outer eye-corner distance
  33/263), the audio feature the log-RMS loudness per 40 ms frame; the distance is
  1 - Pearson r over the overlapping frames. Confidence is `CONF_SCALE x (median - min)`.
  Calibration: `CONF_SCALE = 4.5` puts the generated talking corpus (corpus/talking.py, 4 s clips
  decoded from their mp4 files) on SyncNet-like numbers around the usual threshold of 3: over seeds
  0-3 the raw `median - min` was 0.73-0.88 on synced clips (-> 3.3-4.0) and 0.16-0.37 on the
  unsynced clip (-> 0.7-1.7); silent audio gives a flat curve, conf 0 and offset NaN. Seed 0:

  | clip          | true offset | found | conf |
  |---------------|------------:|------:|-----:|
  | synced_0      |  0 |  0 | 3.31 |
  | audio_late_3  | -3 | -3 | 3.77 |
  | audio_early_3 |  3 |  3 | 3.78 |
  | audio_late_8  | -8 | -8 | 3.72 |
  | audio_early_8 |  8 |  8 | 3.32 |
  | two_person    |  0 |  0 | 3.95 |
  | unsynced      |  — |  1 | 1.08 |
  | silent        |  — | NaN | 0.00 |

  Cost: ~0.08 s per clip-second on one CPU core (FaceMesh in tracking mode, ~3 ms a frame; the benchmark's 4-s
  talking clips take 0.30-0.33 s). FaceMesh without `refine_landmarks` takes ~2.1 instead of ~2.9 ms a frame
  but its lips are coarser: synced clips then score 1.9-3.2 instead of 3.3-4.0 (measured on the test clips),
  too close to unsynced ones, so the refined model stays.
  These are synthetic faces whose mouths follow the loudness exactly; on real speech the
  mouth-loudness correlation is weaker, so real-video confidences will be lower. It is a
  proxy, never "Sync-C".
- "syncnet": SyncNet (`syncnet_v2.model`) on 224x224 face crops (5-frame windows) and 13-dim
  MFCCs (20-step windows, 4 steps per frame), face boxes from FaceMesh instead of S3FD.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from omnihuman_pipeline.scoring.base import AnalysisClip, Score

VIDEO_FPS, AUDIO_SR = 25, 16_000
SAMPLES_PER_FRAME = AUDIO_SR // VIDEO_FPS  # 640
MFCC_STEPS_PER_FRAME = 4  # 10 ms MFCC hop -> 100 Hz, over 25 fps
MFCC_WINDOW = 20  # MFCC steps per SyncNet audio window (= 5 video frames)
VIDEO_WINDOW = 5
VSHIFT = 15  # frames searched either way
CONF_SCALE = 4.5  # mouth_envelope calibration, see the module docstring
ABS_FLOOR_DB, REL_RANGE_DB = -60.0, 50.0  # loudness floor: dBFS, and dB below the clip's peak
UPPER_INNER_LIP, LOWER_INNER_LIP, EYE_OUTER_R, EYE_OUTER_L = 13, 14, 33, 263


# ----------------------------------------------------------------------------------------------
# Maths: small pure functions
# ----------------------------------------------------------------------------------------------


def loudness_envelope(
    audio: np.ndarray, n_frames: int, samples_per_frame: int = SAMPLES_PER_FRAME
) -> np.ndarray:
    """Log-RMS loudness per video frame, dB.

    Args:
        audio: float mono samples at 16 kHz, [N]; zero-padded or cut to `n_frames` frames.
        n_frames: video frames T.
        samples_per_frame: 640 at 16 kHz and 25 fps.

    Returns:
        [T] dBFS, floored at max(-60 dBFS, peak - 50 dB) so pauses and digital silence are flat.
    """
    need = n_frames * samples_per_frame
    a = np.zeros(need, np.float64)
    a[: min(need, len(audio))] = audio[:need]
    rms = np.sqrt(np.mean(a.reshape(n_frames, samples_per_frame) ** 2, axis=1))
    db = 20.0 * np.log10(rms + 1e-12)
    floor = max(ABS_FLOOR_DB, float(db.max(initial=-np.inf)) - REL_RANGE_DB)
    return np.maximum(db, floor)


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """Inner-lip distance over the outer eye-corner distance, per frame.

    Args:
        landmarks: FaceMesh points [T, 478, 2] in pixels (NaN rows where no face).

    Returns:
        [T] dimensionless opening, NaN where the face is missing.
    """
    lips = np.linalg.norm(landmarks[:, UPPER_INNER_LIP] - landmarks[:, LOWER_INNER_LIP], axis=-1)
    eyes = np.linalg.norm(landmarks[:, EYE_OUTER_R] - landmarks[:, EYE_OUTER_L], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return lips / eyes


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(), y - y.mean()
    den = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y) / den if den > 1e-12 else 0.0


def correlation_curve(
    video: np.ndarray, audio: np.ndarray, vshift: int = VSHIFT, min_overlap: int = 10
) -> np.ndarray:
    """Distance `1 - r` between video[t] and audio[t + j - vshift] for j = 0..2*vshift.

    Args:
        video: [T] per-frame video feature (NaN = missing frame, skipped).
        audio: [T] per-frame audio feature.
        vshift: largest shift searched, frames.
        min_overlap: fewer valid frame pairs than this give distance 1 (no evidence).

    Returns:
        [2*vshift + 1] distances in [0, 2]; a flat (constant) series gives 1 everywhere.
    """
    n = len(video)
    curve = np.ones(2 * vshift + 1)
    for j in range(2 * vshift + 1):
        s = j - vshift
        t = np.arange(max(0, -s), min(n, n - s))
        ok = ~np.isnan(video[t]) & ~np.isnan(audio[t + s])
        if ok.sum() >= min_overlap:
            curve[j] = 1.0 - _pearson(video[t][ok], audio[t + s][ok])
    return curve


def syncnet_distances(video_feat: np.ndarray, audio_feat: np.ndarray, vshift: int = VSHIFT) -> np.ndarray:
    """SyncNet's `calc_pdist`: Euclidean distance of video[i] to zero-padded audio[i + j - vshift].

    Args:
        video_feat: [N, D] per-window video embeddings.
        audio_feat: [N, D] per-window audio embeddings.
        vshift: largest shift, frames.

    Returns:
        [N, 2*vshift + 1] distances (`torch.nn.functional.pairwise_distance`, eps 1e-6).
    """
    n, d = video_feat.shape
    padded = np.concatenate([np.zeros((vshift, d)), audio_feat, np.zeros((vshift, d))])
    idx = np.arange(n)[:, None] + np.arange(2 * vshift + 1)[None, :]  # [N, W]
    diff = video_feat[:, None, :] - padded[idx] + 1e-6  # pairwise_distance adds eps to the difference
    return np.sqrt((diff**2).sum(-1))


def offset_and_confidence(curve: np.ndarray, vshift: int = VSHIFT) -> tuple[float, float, float]:
    """SyncNet's read-out of a distance curve over shifts j = 0..2*vshift.

    Returns:
        (offset = vshift - argmin, conf = median - min, min). A flat curve has no offset: NaN.
    """
    j = int(np.argmin(curve))
    lo = float(curve[j])
    offset = float(vshift - j) if float(np.max(curve)) - lo > 1e-9 else math.nan
    return offset, float(np.median(curve)) - lo, lo


# ----------------------------------------------------------------------------------------------
# Faces: FaceMesh landmarks per frame, grouped into tracks
# ----------------------------------------------------------------------------------------------


def face_tracks(per_frame: list[list[np.ndarray]]) -> np.ndarray:
    """Group per-frame face landmark sets into tracks by nearest centre.

    Args:
        per_frame: for each frame a list of [478, 2] pixel landmark arrays (any order).

    Returns:
        [K, T, 478, 2] with NaN where track k has no face in frame t; K = most faces in one frame.
    """
    k = max((len(f) for f in per_frame), default=0)
    tracks = np.full((k, len(per_frame), 478, 2), np.nan)
    if k == 0:
        return tracks
    first = next(f for f in per_frame if len(f) == k)
    centres = sorted((p.mean(0) for p in first), key=lambda c: c[0])
    for t, faces in enumerate(per_frame):
        free = list(range(k))
        for pts in sorted(faces, key=lambda p: p.mean(0)[0]):
            c = pts.mean(0)
            best = min(free, key=lambda i: float(np.linalg.norm(centres[i] - c)))
            free.remove(best)
            tracks[best, t], centres[best] = pts, c
    return tracks


def faces_to_track(clip: AnalysisClip, max_faces: int) -> int:
    """FaceMesh's `max_num_faces` for a clip: the most faces the face scorer's detector finds on its sampled
    frames (shared through `clip.memo`, so free when the face scorer ran), at least 1, at most `max_faces`.

    FaceMesh runs its face detector on every frame while it tracks fewer faces than `max_num_faces`, so
    tracking two on a one-face clip pays a detection per frame for nothing.
    """
    from omnihuman_pipeline.scoring._mediapipe import detection_frames
    from omnihuman_pipeline.scoring.face import MediaPipeFaces

    detector = MediaPipeFaces()
    idx = detection_frames(len(clip.frames), clip.fps, detector.n_frames)
    seen = max((len(detector.detect(clip, i)) for i in idx), default=0)
    return max(1, min(max_faces, seen))


def face_mesh_landmarks(frames: np.ndarray, max_faces: int) -> list[list[np.ndarray]]:
    """FaceMesh (tracking mode, refined landmarks) on every frame of a clip, through the process's shared tracker
    (`_mediapipe.track`: reset by a blank frame per clip, tested to equal a new graph).

    Returns:
        Per frame, one [478, 2] array of pixel coordinates per face found.
    """
    from omnihuman_pipeline.scoring import _mediapipe

    h, w = frames.shape[1:3]
    results = _mediapipe.track("face_mesh", frames, static_image_mode=False, max_num_faces=max_faces,
                               refine_landmarks=True, min_detection_confidence=0.5, min_tracking_confidence=0.5)
    return [[_mediapipe.landmarks_xy(f) * (w, h) for f in res.multi_face_landmarks or []] for res in results]


def _resample_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate == AUDIO_SR:
        return np.asarray(audio, np.float64)
    from scipy.signal import resample_poly

    g = math.gcd(int(sample_rate), AUDIO_SR)
    return resample_poly(np.asarray(audio, np.float64), AUDIO_SR // g, int(sample_rate) // g)


def clip_problem(clip: AnalysisClip) -> str | None:
    """Why a clip cannot be scored for lip sync ("no_audio", "fps_not_25", "too_short"), else None."""
    if clip.audio is None or len(clip.audio) == 0:
        return "no_audio"
    if abs(clip.fps - VIDEO_FPS) > 1e-3:
        return "fps_not_25"
    if len(clip.frames) < 2 * VSHIFT + VIDEO_WINDOW:
        return "too_short"
    return None


def _check_clip(clip: AnalysisClip, backend: str) -> Score | None:
    problem = clip_problem(clip)
    return None if problem is None else Score.failed(backend, problem)


# ----------------------------------------------------------------------------------------------
# Backend "mouth_envelope"
# ----------------------------------------------------------------------------------------------


@dataclass
class MouthEnvelopeSync:
    """Offline lip-sync proxy: FaceMesh mouth opening x audio loudness over ±`vshift` frames.

    Attributes:
        vshift: frames searched either way (SyncNet: 15).
        max_faces: most faces tracked; every face track is scored and the most confident kept. A clip is
            tracked for as many faces as the face detector finds on its sampled frames (`faces_to_track`).
        min_face_frames: share of frames that must show a face, else error "no_face".
        conf_scale: calibration of `median - min` of the 1 - r curve (module docstring).
    """

    signal: ClassVar[str] = "sync"
    backend: ClassVar[str] = "mouth_envelope"

    vshift: int = VSHIFT
    max_faces: int = 2
    min_face_frames: float = 0.5
    conf_scale: float = CONF_SCALE

    def setup(self) -> None:
        from omnihuman_pipeline.scoring._mediapipe import import_mediapipe

        import_mediapipe()  # fail in the worker's setup, not on the first clip

    def score(self, clip: AnalysisClip) -> Score:
        bad = _check_clip(clip, self.backend)
        if bad is not None:
            return bad
        faces = face_mesh_landmarks(clip.frames, faces_to_track(clip, self.max_faces))
        face_frames = float(np.mean([len(f) > 0 for f in faces]))
        n_faces = max(len(f) for f in faces)
        if face_frames < self.min_face_frames:
            return Score.failed(self.backend, "no_face", face_frames=face_frames, n_faces=n_faces)
        audio = loudness_envelope(_resample_16k(clip.audio, clip.sample_rate), len(clip.frames))
        best = None
        for k, track in enumerate(face_tracks(faces)):
            mouth = mouth_opening(track)
            if np.mean(~np.isnan(mouth)) < self.min_face_frames:
                continue
            curve = correlation_curve(mouth, audio, self.vshift)
            offset, raw_conf, lo = offset_and_confidence(curve, self.vshift)
            if best is None or raw_conf > best[1]:
                best = (offset, raw_conf, lo, curve, mouth, k)
        if best is None:
            return Score.failed(self.backend, "no_face", face_frames=face_frames, n_faces=n_faces)
        offset, raw_conf, lo, curve, mouth, k = best
        return sync_score(self.backend, offset, self.conf_scale * raw_conf, lo, curve, face_frames, n_faces, k,
                          mouth=mouth.astype(np.float32), loudness_db=audio.astype(np.float32))


def sync_score(backend: str, offset: float, conf: float, dists_min: float, curve: np.ndarray,
               face_frames: float, n_faces: int, track: int, **arrays: np.ndarray) -> Score:
    """The `sync` score both backends return: value = conf; columns `sync_offset`, `sync_conf`, ...;
    the distance curve (and any further per-frame `arrays`) kept for reports."""
    extra = {"offset": offset, "conf": conf, "dists_min": dists_min, "dists_median": float(np.median(curve)),
             "face_frames": face_frames, "n_faces": n_faces, "track": track}
    return Score(conf, backend, None, extra, {"dists": curve.astype(np.float32), **arrays})


# ----------------------------------------------------------------------------------------------
# Backend "syncnet"
# ----------------------------------------------------------------------------------------------


def _syncnet_module(name: str):
    """A module file of the installed `syncnet_python` package, loaded without its `__init__`
    (which imports ffmpeg-python and the S3FD pipeline, neither needed here)."""
    key = f"_syncnet_python_{name}"
    if key not in sys.modules:
        spec = importlib.util.find_spec("syncnet_python")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("syncnet-python is not installed (pip install --no-deps syncnet-python)")
        path = Path(next(iter(spec.submodule_search_locations))) / f"{name}.py"
        mod_spec = importlib.util.spec_from_file_location(key, path)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
        sys.modules[key] = module
    return sys.modules[key]


def load_syncnet(path: str | None = None, device: str = "cpu"):
    """SyncNet `S` with weights from `syncnet_v2.model` (keys `__S__.*`, as `SyncNetInstance.loadParameters`
    reads them; bare `S` keys are accepted too).

    Raises:
        WeightsNotFoundError: no file; the message names it, the setting and where it is published.
    """
    import torch

    from omnihuman_pipeline import weights

    file = weights.resolve("syncnet", path)
    net = _syncnet_module("SyncNetModel").S(num_layers_in_fc_layers=1024)
    state = torch.load(file, map_location="cpu", weights_only=True)
    state = {k.removeprefix("__S__."): v for k, v in state.items()}
    net.load_state_dict(state, strict=True)
    return net.to(device).eval()


def face_crops(frames: np.ndarray, track: np.ndarray, size: int = 224, crop_scale: float = 0.4) -> np.ndarray:
    """syncnet_python `crop_video` on FaceMesh boxes: square-ish crop biased to the mouth, 224x224 BGR.

    Args:
        frames: uint8 RGB [T, H, W, 3].
        track: [T, 478, 2] landmarks (NaN rows are filled from the nearest frame with a face).
        size: output side.
        crop_scale: syncnet_python's `cs`.

    Returns:
        float32 [T, size, size, 3], BGR 0-255 like `cv2.imread` frames.
    """
    import cv2

    valid = ~np.isnan(track[:, 0, 0])
    idx = np.arange(len(track))
    near = np.array([idx[valid][np.argmin(np.abs(idx[valid] - i))] for i in idx])
    boxes = np.concatenate([np.nanmin(track, 1), np.nanmax(track, 1)], 1)[near]  # [T, 4] x0 y0 x1 y1
    from scipy.signal import medfilt

    boxes = np.stack([medfilt(boxes[:, k], 13 if len(boxes) >= 13 else 1) for k in range(4)], 1)
    out = np.empty((len(frames), size, size, 3), np.float32)
    for t, (frame, (x0, y0, x1, y1)) in enumerate(zip(frames, boxes, strict=True)):
        bs = max(x1 - x0, y1 - y0) / 2
        pad = int(bs * (1 + 2 * crop_scale))
        img = np.pad(frame[..., ::-1], ((pad, pad), (pad, pad), (0, 0)), constant_values=110)
        my, mx = (y0 + y1) / 2 + pad, (x0 + x1) / 2 + pad
        face = img[
            int(my - bs) : int(my + bs * (1 + 2 * crop_scale)),
            int(mx - bs * (1 + crop_scale)) : int(mx + bs * (1 + crop_scale)),
        ]
        out[t] = cv2.resize(face, (size, size))
    return out


def mfcc_frames(audio: np.ndarray) -> np.ndarray:
    """13-dim MFCCs at 100 Hz as syncnet_python computes them (int16-scaled 16 kHz audio), [13, M]."""
    import python_speech_features

    return python_speech_features.mfcc(np.asarray(audio, np.float64) * 32768.0, AUDIO_SR).T


def syncnet_embeddings(
    net, crops: np.ndarray, mfcc: np.ndarray, *, device: str = "cpu", batch_size: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Video and audio embeddings of every window pair, as in `SyncNetInstance.evaluate`.

    Args:
        net: SyncNet `S`.
        crops: float32 [T, 224, 224, 3] BGR face crops.
        mfcc: [13, M] MFCCs.
        device: torch device.
        batch_size: windows per forward pass.

    Returns:
        (video [N, 1024], audio [N, 1024]) with N = min(T, M // 4) - 5.
    """
    import torch

    n = min(len(crops), mfcc.shape[1] // MFCC_STEPS_PER_FRAME) - VIDEO_WINDOW
    vid = torch.from_numpy(np.ascontiguousarray(crops.transpose(3, 0, 1, 2)))[None]  # [1, 3, T, H, W]
    aud = torch.from_numpy(mfcc.astype(np.float32))[None, None]  # [1, 1, 13, M]
    v_out, a_out = [], []
    with torch.inference_mode():
        for i in range(0, n, batch_size):
            rng = range(i, min(n, i + batch_size))
            v = torch.cat([vid[:, :, f : f + VIDEO_WINDOW] for f in rng]).to(device)  # [B, 3, 5, H, W]
            a = torch.cat(
                [aud[..., f * MFCC_STEPS_PER_FRAME : f * MFCC_STEPS_PER_FRAME + MFCC_WINDOW] for f in rng]
            ).to(device)  # [B, 1, 13, 20]
            v_out.append(net.forward_lip(v).cpu())
            a_out.append(net.forward_aud(a).cpu())
    return torch.cat(v_out).double().numpy(), torch.cat(a_out).double().numpy()


@dataclass(frozen=True)
class SyncNetResult:
    """syncnet_python's `evaluate` read-out for one clip.

    Attributes:
        offset: frames, `vshift - argmin(curve)` (positive: audio leads); NaN for a flat curve or an error.
        conf: `median(curve) - min(curve)`: what papers report as Sync-C.
        min_dist: `min(curve)`: what papers report as Sync-D.
        curve: [2*vshift + 1] mean embedding distance per shift (empty on error).
        face_frames: share of frames with a face (NaN when the clip was rejected before face detection).
        error: "no_audio", "fps_not_25", "too_short", "no_face" or None.
    """

    offset: float
    conf: float
    min_dist: float
    curve: np.ndarray
    face_frames: float
    error: str | None = None


def syncnet_readout(video: np.ndarray, audio: np.ndarray, vshift: int = VSHIFT) -> tuple[float, float, float, np.ndarray]:
    """Distance curve of [N, D] video/audio window embeddings and its read-out: (offset, conf, min, curve [2v+1])."""
    curve = syncnet_distances(video, audio, vshift).mean(0)
    offset, conf, lo = offset_and_confidence(curve, vshift)
    return offset, conf, lo, curve


def run_syncnet(net, clip: AnalysisClip, *, vshift: int = VSHIFT, device: str = "cpu", batch_size: int = 20,
                min_face_frames: float = 0.5) -> SyncNetResult:
    """The whole SyncNet procedure on one clip (25 fps frames, audio at any rate): FaceMesh face track ->
    224x224 crops, 16 kHz MFCCs -> window embeddings -> distance curve over ±`vshift` -> offset, conf, min.

    The curate `syncnet` backend and the Sync-C / Sync-D metric both call this, so they cannot drift apart.
    """
    problem = clip_problem(clip)
    if problem is not None:
        return SyncNetResult(math.nan, math.nan, math.nan, np.zeros(0), math.nan, problem)
    faces = face_mesh_landmarks(clip.frames, max_faces=1)
    face_frames = float(np.mean([len(f) > 0 for f in faces]))
    if face_frames < min_face_frames:
        return SyncNetResult(math.nan, math.nan, math.nan, np.zeros(0), face_frames, "no_face")
    crops = face_crops(clip.frames, face_tracks(faces)[0])
    mfcc = mfcc_frames(_resample_16k(clip.audio, clip.sample_rate))
    video, audio = syncnet_embeddings(net, crops, mfcc, device=device, batch_size=batch_size)
    offset, conf, lo, curve = syncnet_readout(video, audio, vshift)
    return SyncNetResult(offset, conf, lo, curve, face_frames)


@dataclass
class SyncNetSync:
    """SyncNet lip sync (real backend): syncnet_python's `evaluate` on FaceMesh face crops.

    Attributes:
        weights_path: `syncnet_v2.model`; None resolves "syncnet" from conf/local or the environment.
        device: torch device, e.g. "cpu" or "cuda".
        vshift: frames searched either way.
        batch_size: windows per forward pass.
        min_face_frames: share of frames that must show a face, else error "no_face".
    """

    signal: ClassVar[str] = "sync"
    backend: ClassVar[str] = "syncnet"
    weights: ClassVar[dict[str, str]] = {"syncnet": "weights_path"}

    weights_path: str | None = None
    device: str = "cpu"
    vshift: int = VSHIFT
    batch_size: int = 20
    min_face_frames: float = 0.5
    _net: Any = field(default=None, init=False, repr=False)

    def setup(self) -> None:
        if self._net is None:
            self._net = load_syncnet(self.weights_path, self.device)

    def score(self, clip: AnalysisClip) -> Score:
        self.setup()
        found = run_syncnet(self._net, clip, vshift=self.vshift, device=self.device, batch_size=self.batch_size,
                            min_face_frames=self.min_face_frames)
        if found.error is not None:
            extra = {} if math.isnan(found.face_frames) else {"face_frames": found.face_frames}
            return Score.failed(self.backend, found.error, **extra)
        return sync_score(self.backend, found.offset, found.conf, found.min_dist, found.curve, found.face_frames, 1, 0)


SYNC_BACKENDS: dict[str, type] = {"mouth_envelope": MouthEnvelopeSync, "syncnet": SyncNetSync}
