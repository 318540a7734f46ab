"""Generate a video from a reference image and driving signals (paper §3.4); the one function behind the
CLI (``python -m omnihuman_pipeline.generate``) and the Kedro ``generate`` pipeline.

1. Conditions: the job's inputs (or its ``drive``) set the active conditions (``conditions.py``);
   the checkpoint's card must list them all.
2. Encoders: rebuilt from the card's feature settings (``encoders.py``); the reference image is
   resized to the card's bucket and encoded, the caption (given, or written by the curate captioner
   from the reference image) is encoded, the audio is encoded once for the whole video at 25 fps.
3. Segments: the output's N = seconds x 25 frames are one latent sequence split into segments of
   the training window (``segments.py``); each is sampled with flow-matching Euler and CFG
   (``sampler.py``), the latents of the last 5 frames so far as motion frames, its audio features and
   pose maps cut to its frames; the whole sequence is decoded once.
4. Output: the frames and the audio (fitted to N / 25 s, 16 kHz) are muxed to an mp4 with PyAV, and
   one row describes the run (:data:`RESULT_COLUMNS`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from omnihuman_pipeline.inference.conditions import (
    GenerationError,
    active_conditions,
    check_checkpoint,
    resolve_drive,
)
from omnihuman_pipeline.inference.encoders import Encoders, feature_config
from omnihuman_pipeline.inference.sampler import (
    Guidance,
    GuidedDenoiser,
    SegmentConditions,
    flow_sigmas,
    sample_flow,
)
from omnihuman_pipeline.inference.segments import (
    MOTION_LATENT_FRAMES,
    SegmentPlan,
    motion_latents,
    plan_segments,
)
from omnihuman_pipeline.models.export import ModelCard, ModelFolderError
from omnihuman_pipeline.models.latent_layout import num_pixel_frames

logger = logging.getLogger(__name__)

VIDEO_FPS, AUDIO_SR = 25, 16_000
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}  # autocast dtype of the model's forward (CUDA)
DEFAULT_SEGMENT_FRAMES = 81  # a card without its training window (21 latent frames, the base profile's): 3.2 s
RESULT_COLUMNS = [
    "job", "status", "error", "checkpoint", "stage", "drive", "conditions", "seed", "steps", "cfg_form", "cfg",
    "cfg_text", "cfg_audio", "branches", "flow_shift", "seconds", "frames", "segments", "segment_latents", "width",
    "height", "fps", "caption", "caption_backend", "speaker", "backends", "face_share", "wall_s", "output",
]
FACE_CHECK_FRAMES = 16  # frames of each output FaceMesh looks at (evenly spread; bounded memory)


@dataclass(frozen=True)
class GenerationJob:
    """One video to generate.

    Attributes:
        name: job name (the output table's key).
        image: reference image (a picture, or a video whose frame ``image_frame`` is taken).
        out: output ``.mp4`` path.
        checkpoint: model folder (``model.safetensors`` + ``model.json``).
        audio: driving audio (any PyAV-decodable file with an audio track), or None.
        pose: pose keypoints ``.npz`` (curate's pose arrays) or a skeleton video, or None.
        text: the caption; None: the curate captioner writes it from the reference image.
        image_frame: frame of a video reference.
        seconds: output length; None: the audio's length (else the pose video's).
        seed: seed of the initial noise.
        drive: ``text`` | ``audio`` | ``audio_pose`` | ``pose``; None: from the inputs given.
        speaker: choose the speaker as the n-th face from the left of the reference (audio CFG mask).
        speaker_mask: or a mask picture (bright = speaker).
    """

    name: str
    image: str
    out: str
    checkpoint: str
    audio: str | None = None
    pose: str | None = None
    text: str | None = None
    image_frame: int = 0
    seconds: float | None = None
    seed: int = 0
    drive: str | None = None
    speaker: int | None = None
    speaker_mask: str | None = None


@dataclass(frozen=True)
class GenerateSettings:
    """How jobs are sampled (``parameters_generate.yml: generate``).

    Attributes:
        steps: Euler steps per segment.
        cfg: classifier-free guidance (``form``, ``scale``, ``text_scale``, ``audio_scale``).
        segment_frames: longest segment in pixel frames (1 + 4k); None: the training window recorded in
            the card (``training.window_latent_frames``), or ``DEFAULT_SEGMENT_FRAMES`` without one.
        device: torch device of the model and encoders.
        precision: ``float32`` | ``bfloat16`` (autocast of the model's forward on CUDA).
        batched_cfg: run the guidance branches as one batched forward (False: one per branch).
        backends: kind -> backend the run expects (each must equal the checkpoint's; None: the card's).
        weights: kind -> weights folder for a real encoder backend (value-neutral).
        speaker_box_scale: growth of the chosen speaker's face box for the audio CFG mask.
        face_min_confidence: face detector threshold (speaker mask, captions).
        crf: x264 quality of the output.
        preset: x264 preset.
        progress: show a tqdm bar per job (segments x steps).
        on_error: ``record`` (a failed job gets a row with the reason; the others run) | ``raise``.
    """

    steps: int = 30
    cfg: Guidance = field(default_factory=Guidance)
    segment_frames: int | None = None
    device: str = "cpu"
    precision: str = "float32"
    batched_cfg: bool = True
    backends: dict[str, str | None] = field(default_factory=dict)
    weights: dict[str, str | None] = field(default_factory=dict)
    speaker_box_scale: float = 1.8
    face_min_confidence: float = 0.7
    crf: int = 18
    preset: str = "veryfast"
    progress: bool = True
    on_error: str = "record"

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> GenerateSettings:
        """Build from the ``generate`` parameter group (missing keys take the defaults)."""
        values = dict(params or {})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            known = sorted(f.name for f in fields(cls))
            raise KeyError(f"unknown generate settings {sorted(unknown)}; known: {known}")
        if isinstance(values.get("cfg"), Mapping):
            values["cfg"] = Guidance(**values["cfg"])
        settings = cls(**values)
        if settings.on_error not in ("record", "raise"):
            raise ValueError(f"on_error must be 'record' or 'raise', got {settings.on_error!r}")
        if settings.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {settings.precision!r}")
        return settings


@dataclass
class Checkpoint:
    """A loaded model folder and the encoders of its card."""

    path: str
    model: torch.nn.Module
    card: ModelCard
    encoders: Encoders

    @property
    def flow_shift(self) -> float:
        """The time shift training sampled with (``model.json: flow.shift``)."""
        if "shift" not in self.card.flow:
            raise GenerationError(f"{self.path}/model.json has no flow.shift: sampling must reuse the shift the "
                                  "weights were trained with; re-export the model with it")
        return float(self.card.flow["shift"])

    @property
    def prediction(self) -> str:
        """What the network outputs (``model.json: flow.prediction``; cards written before it: velocity)."""
        return str(self.card.flow.get("prediction", "velocity"))

    @property
    def segment_frames(self) -> int:
        """Pixel frames of the window the weights were trained on (the longest segment by default)."""
        window = self.card.training.get("window_latent_frames")
        return num_pixel_frames(int(window)) if window else DEFAULT_SEGMENT_FRAMES


def load_checkpoint(path: str | Path, settings: GenerateSettings) -> Checkpoint:
    """Load a model folder and build its encoders (see ``encoders.feature_config`` for what may differ).

    Raises:
        GenerationError: not a model folder, or its encoders cannot be matched.
    """
    from omnihuman_pipeline.models.export import load_model_folder

    try:
        model, card = load_model_folder(path, device=settings.device)
    except ModelFolderError as err:
        raise GenerationError(f"checkpoint {path}: {err}") from None
    config = feature_config(card, str(path), settings.backends, settings.device, settings.weights)
    return Checkpoint(str(path), model, card, Encoders.build(config, card.config, str(path)))


# --------------------------------------------------------------------------------------------------
# Sampling of all segments (tensors only)
# --------------------------------------------------------------------------------------------------
@dataclass
class SegmentOutput:
    """One sampled segment: its latents [1, C, T, h, w] and the motion latents it was given (or None)."""

    latents: Tensor
    motion_in: Tensor | None


def sample_segments(model: torch.nn.Module, plan: SegmentPlan, *, ref_latents: Tensor, text_emb: Tensor,
                    text_mask: Tensor, audio_feats: Tensor | None, pose_maps: Tensor | None, guidance: Guidance,
                    sigmas: Tensor, seed: int, mask: Tensor | None = None, batched: bool = True,
                    on_step: Callable[[int, int], None] | None = None,
                    autocast_dtype: torch.dtype | None = None, prediction: str = "velocity",
                    on_segment: Callable[[int, SegmentOutput], None] | None = None,
                    keep: bool = True) -> list[SegmentOutput]:
    """Sample every segment of a plan, each continuing the latent sequence from its last latents.

    Args:
        model: the network (eval mode), on the device of the inputs.
        plan: segment lengths.
        ref_latents: [1, C, 1, h, w] reference latent.
        text_emb: [1, L, D] caption states; text_mask: bool [1, L].
        audio_feats: [plan.generated, L_a, C_a] audio features of the whole video at 25 fps (a tensor, or any
            object that gives a frame range as a tensor, e.g. ``WindowedAudioFeatures``), or None.
        pose_maps: [3, plan.generated, 8h, 8w] skeleton maps in [-1, 1], or None.
        guidance: CFG settings.
        sigmas: [steps + 1] noise levels (:func:`flow_sigmas`).
        seed: noise seed (segment i draws the i-th noise of one generator).
        mask: speaker mask [h, w] for the audio term, or None.
        batched: one batched forward for the guidance branches.
        on_step: called as ``(segment, step)`` after every Euler step.
        autocast_dtype: autocast dtype of the forward on CUDA (None: off).
        prediction: the model's output (``model.json: flow.prediction``), ``velocity`` or ``x0``.
        on_segment: called as ``(index, output)`` as soon as a segment is sampled (streaming decode).
        keep: return every segment's output; False keeps only the motion latents the next segment needs, so
            memory does not grow with the video's length.

    Returns:
        One :class:`SegmentOutput` per segment (none when ``keep`` is False); their latents concatenated are
        the video's latents.
    """
    device = ref_latents.device
    _, c, _, h, w = ref_latents.shape
    gen = torch.Generator().manual_seed(seed)
    outputs: list[SegmentOutput] = []
    sequence: Tensor | None = None
    for i, n_latent in enumerate(plan.latents):
        frames = plan.condition_frames(i)
        motion = None if sequence is None else motion_latents(sequence, plan.motion_frames(i))
        cond = SegmentConditions(
            text_emb=text_emb, text_mask=text_mask, ref_latents=ref_latents, motion_latents=motion,
            audio_feats=None if audio_feats is None else audio_feats[frames.start:frames.stop][None].to(device),
            pose_maps=None if pose_maps is None else pose_maps[:, frames.start:frames.stop][None].to(device))
        denoiser = GuidedDenoiser(model, cond, guidance, mask=mask, batched=batched, prediction=prediction)
        noise = torch.randn(1, c, n_latent, h, w, generator=gen).to(device)
        with torch.autocast(device.type, dtype=autocast_dtype or torch.bfloat16,
                            enabled=autocast_dtype is not None and device.type == "cuda"):
            latents = sample_flow(denoiser, noise, sigmas,
                                  on_step=None if on_step is None else (lambda s, i=i: on_step(i, s)))
        out = SegmentOutput(latents, motion)
        if on_segment is not None:
            on_segment(i, out)
        if keep:
            outputs.append(out)
        # only the last `plan.motion` latents are ever read again (motion frames of the next segment)
        sequence = latents if sequence is None else torch.cat([sequence, latents], dim=2)
        sequence = sequence[:, :, -plan.motion:] if plan.motion else sequence[:, :, :0]
    return outputs


# --------------------------------------------------------------------------------------------------
# One job
# --------------------------------------------------------------------------------------------------
def output_frames(job: GenerationJob, audio: np.ndarray | None) -> int:
    """Frames N of a job's video: ``seconds`` x 25, else the audio's length, else the pose file's."""
    if job.seconds is not None:
        if job.seconds <= 0:
            raise GenerationError(f"job {job.name}: seconds must be > 0, got {job.seconds}")
        return max(1, round(job.seconds * VIDEO_FPS))
    if audio is not None:
        return max(1, round(len(audio) * VIDEO_FPS / AUDIO_SR))
    if job.pose is not None:
        return _pose_frames(job.pose)
    raise GenerationError(f"job {job.name}: without audio or pose the length is unknown; set `seconds`")


def _pose_frames(path: str) -> int:
    if Path(path).suffix.lower() == ".npz":
        with np.load(path) as data:
            return int(np.max(data["frame_index"])) + 1
    from omnihuman_pipeline.media.probe import probe

    info = probe(path)
    return max(1, round(info.duration_s * VIDEO_FPS))


def _speaker_mask(job: GenerationJob, faces: list, h: int, w: int, settings: GenerateSettings,
                  audio_on: bool) -> Tensor | None:
    from omnihuman_pipeline.inference.media_io import read_mask_image
    from omnihuman_pipeline.inference.speaker import box_mask, choose_speaker, image_mask

    if job.speaker is None and job.speaker_mask is None:
        return None
    if not audio_on:
        raise GenerationError(f"job {job.name}: a speaker selects who the audio drives, but audio is not a "
                              "condition of this drive; drop `speaker` / `speaker_mask` or give audio")
    if job.speaker is not None and job.speaker_mask is not None:
        raise GenerationError(f"job {job.name}: give either `speaker` or `speaker_mask`, not both")
    if job.speaker_mask is not None:
        return image_mask(read_mask_image(job.speaker_mask), h, w)
    box = choose_speaker(faces, int(job.speaker), f"reference image {job.image}")
    return box_mask(box, h, w, settings.speaker_box_scale)


def generate_video(job: GenerationJob, settings: GenerateSettings, caption: Mapping[str, Any] | None = None,
                   checkpoint: Checkpoint | None = None) -> dict[str, Any]:
    """Generate one job's video and write it to ``job.out``.

    Args:
        job: what to generate.
        settings: sampling settings.
        caption: curate's caption settings (``parameters_curate.yml: caption``), used when ``job.text`` is None.
        checkpoint: the loaded ``job.checkpoint`` (None: load it here).

    Returns:
        The job's row (:data:`RESULT_COLUMNS`, status ``ok``).

    Raises:
        GenerationError: bad input (the message names what to fix).
    """
    from tqdm.auto import tqdm

    from omnihuman_pipeline.features.clip_media import fit_audio
    from omnihuman_pipeline.inference.caption import caption_reference
    from omnihuman_pipeline.inference.media_io import read_audio, read_image, read_pose_maps
    from omnihuman_pipeline.inference.speaker import detect_faces
    from omnihuman_pipeline.media.clip_writer import ClipWriter

    start = time.perf_counter()
    drive = resolve_drive(job.audio is not None, job.pose is not None, job.drive)
    conditions = active_conditions(drive)
    ckpt = checkpoint or load_checkpoint(job.checkpoint, settings)
    check_checkpoint(ckpt.card, conditions, job.checkpoint)
    model, enc, fc = ckpt.model, ckpt.encoders, ckpt.encoders.config
    device = torch.device(settings.device)

    # 1. inputs at the checkpoint's bucket; N frames at 25 fps
    image = read_image(job.image, frame=job.image_frame, short_side=fc.video.short_side, multiple=fc.video.multiple)
    height, width = image.shape[:2]
    h, w = height // model.config.vae_spatial_factor, width // model.config.vae_spatial_factor
    audio = read_audio(job.audio, AUDIO_SR) if job.audio is not None else None
    n_frames = output_frames(job, audio)
    plan = plan_segments(n_frames, settings.segment_frames or ckpt.segment_frames,
                         motion=int(ckpt.card.training.get("motion_latent_frames", MOTION_LATENT_FRAMES)))
    audio_on, pose_on = "audio" in conditions, "pose" in conditions
    signals_caption = job.text is None and (caption or {}).get("backend", "signals") == "signals"
    need_faces = job.speaker is not None or signals_caption
    faces = detect_faces(image, settings.face_min_confidence) if need_faces else []
    mask = _speaker_mask(job, faces, h, w, settings, audio_on)
    # the drive is held once: fitted to the sampled length; the mp4's track is a view of its first N / 25 s
    driving = fit_audio(audio, plan.generated, VIDEO_FPS, AUDIO_SR) if audio is not None else None
    with_audio, audio = audio is not None, None
    text, caption_backend = (job.text, "given") if job.text is not None else caption_reference(
        image, faces, driving[: round(n_frames * AUDIO_SR / VIDEO_FPS)] if audio_on else None, caption)

    # 2. encode as the features pipeline did
    ref = enc.encode_reference(image).to(device)
    text_emb, text_mask = (t.to(device) for t in enc.encode_text(text))
    feats = enc.audio_frames(driving, plan.generated, model.config, job.checkpoint) if audio_on else None
    pose = None
    if pose_on:
        maps = read_pose_maps(job.pose, n_frames, width, height, asdict(fc.pose))
        maps = np.concatenate([maps, np.repeat(maps[-1:], plan.trim, axis=0)])  # frames past N are dropped
        pose = torch.from_numpy(maps).permute(3, 0, 1, 2).float() / 127.5 - 1.0  # [3, F, H, W] in [-1, 1]

    # 3. segments
    sigmas = flow_sigmas(settings.steps, ckpt.flow_shift)
    bar = tqdm(total=len(plan.latents) * settings.steps, desc=job.name, unit="step", disable=not settings.progress)

    def on_step(segment: int, step: int) -> None:
        bar.set_postfix(segment=f"{segment + 1}/{len(plan.latents)}", refresh=False)
        bar.update(1)

    # 4. each segment decoded and encoded as soon as it is sampled; the mp4 gets the audio fitted to its length
    autocast = PRECISIONS[settings.precision]
    sink = FrameSink(ClipWriter(job.out, width=width, height=height, fps=VIDEO_FPS, crf=settings.crf,
                                preset=settings.preset, sample_rate=AUDIO_SR, with_audio=with_audio),
                     enc.decode, n_frames, model.config.vae_temporal_factor)
    try:
        sample_segments(model, plan, ref_latents=ref, text_emb=text_emb, text_mask=text_mask,
                        audio_feats=feats, pose_maps=pose, guidance=settings.cfg, sigmas=sigmas,
                        seed=job.seed, mask=None if mask is None else mask.to(device),
                        batched=settings.batched_cfg, on_step=on_step, autocast_dtype=autocast,
                        prediction=ckpt.prediction, on_segment=sink, keep=False)
        if sink.flat:
            raise GenerationError(f"job {job.name}: every generated frame is one flat colour: {job.checkpoint} "
                                  "produces no picture; nothing was written")
        muxed = driving[: round(n_frames * AUDIO_SR / VIDEO_FPS)] if driving is not None else None
        path = sink.writer.close(muxed)
    except BaseException:
        sink.writer.abort()
        raise
    finally:
        bar.close()
    branches = settings.cfg.branches(audio_on, masked=mask is not None)
    s_text, s_audio = settings.cfg.scales
    return {
        "job": job.name, "status": "ok", "error": None, "checkpoint": str(job.checkpoint),
        "stage": ckpt.card.stage, "drive": drive, "conditions": ",".join(conditions), "seed": job.seed,
        "steps": settings.steps, "cfg_form": settings.cfg.form, "cfg": float(settings.cfg.scale),
        "cfg_text": s_text, "cfg_audio": s_audio if audio_on else math.nan, "branches": ",".join(branches),
        "flow_shift": ckpt.flow_shift, "seconds": n_frames / VIDEO_FPS, "frames": sink.written,
        "segments": len(plan.latents), "segment_latents": ",".join(map(str, plan.latents)), "width": width,
        "height": height, "fps": VIDEO_FPS, "caption": text, "caption_backend": caption_backend,
        "speaker": _speaker_label(job), "backends": json.dumps(enc.backends()), "face_share": sink.face_share(),
        "wall_s": time.perf_counter() - start, "output": str(path),
    }


class FrameSink:
    """Decodes each sampled segment and hands its frames to a writer: the video never sits in memory whole.

    Segment 0 decodes alone; a later segment decodes after its motion latents (the previous segment's last
    latents) and drops their frames, so a causal decoder sees the frames before it (exact for the patchify
    codec, whose latent frames decode independently) and the frame count equals a decode of the whole sequence.

    Args:
        writer: a :class:`~omnihuman_pipeline.media.clip_writer.ClipWriter` (``write(frame)``).
        decode: latents [C, T, h, w] -> video [3, 1 + 4(T-1), H, W] in [-1, 1].
        n_frames: frames to write in all (the last segment's extra frames are dropped).
        temporal: pixel frames per latent frame after the first (the codec's temporal factor).
    """

    def __init__(self, writer: Any, decode: Callable[[Tensor], Tensor], n_frames: int, temporal: int = 4) -> None:
        self.writer, self.decode, self.n_frames, self.temporal = writer, decode, n_frames, temporal
        self.written, self.flat = 0, True
        self.keep = set(np.linspace(0, n_frames - 1, min(FACE_CHECK_FRAMES, n_frames)).round().astype(int).tolist())
        self.kept: list[np.ndarray] = []  # the frames the face check looks at

    def __call__(self, index: int, out: SegmentOutput) -> None:
        from omnihuman_pipeline.features.codec import to_uint8

        latents, context = out.latents[0], out.motion_in
        if context is None:
            frames = to_uint8(self.decode(latents))
        else:
            skip = 1 + (context.shape[2] - 1) * self.temporal  # the context's own pixel frames
            frames = to_uint8(self.decode(torch.cat([context[0].to(latents), latents], dim=1))[:, skip:])
        frames = frames[: self.n_frames - self.written]
        self.flat = self.flat and is_constant(frames)
        for i, frame in enumerate(frames):
            self.writer.write(frame)
            if self.written + i in self.keep:
                self.kept.append(np.array(frame))
        self.written += len(frames)

    def face_share(self) -> float:
        """Share of the kept frames in which FaceMesh finds a face (NaN when MediaPipe cannot run here)."""
        return face_share(np.stack(self.kept)) if self.kept else math.nan


def face_share(frames: np.ndarray) -> float:
    """Share of uint8 RGB frames [N, H, W, 3] with a face found by FaceMesh (the evaluation's face tracker)."""
    try:
        from omnihuman_pipeline.scoring.lipsync import face_mesh_landmarks

        return float(np.mean([len(f) > 0 for f in face_mesh_landmarks(frames, 1)]))
    except ImportError as err:
        logger.warning("face check skipped: %s", err)
        return math.nan


def is_constant(video: np.ndarray, levels: int = 1) -> bool:
    """Whether every frame of a uint8 video [N, H, W, 3] is one flat colour (each channel's range ≤ ``levels``)."""
    spread = video.max(axis=(1, 2)).astype(np.int16) - video.min(axis=(1, 2))
    return bool((spread <= levels).all())


def _speaker_label(job: GenerationJob) -> str | None:
    if job.speaker_mask is not None:
        return f"mask:{job.speaker_mask}"
    return None if job.speaker is None else f"face:{job.speaker}"


# --------------------------------------------------------------------------------------------------
# Many jobs
# --------------------------------------------------------------------------------------------------
JOB_KEYS = {f.name for f in fields(GenerationJob)} - {"out"}


def resolve_jobs(jobs: list[Mapping[str, Any]], *, inputs: Any, models: Any, outputs: Any,
                 defaults: Mapping[str, Any] | None = None) -> list[GenerationJob]:
    """Turn the ``generate_jobs`` parameter list into jobs with paths.

    Input files are named relative to ``inputs`` (``data/01_raw``), checkpoints relative to ``models``
    (``data/06_models``; e.g. ``stage3``), and each job writes ``<name>.mp4`` into ``outputs``.

    Args:
        jobs: one mapping per job (keys of :class:`GenerationJob` but ``out``; ``name`` and ``image``
            required).
        inputs: the inputs folder (``LocalFolder``).
        models: the checkpoints folder.
        outputs: the output video folder.
        defaults: values for keys a job leaves out (e.g. ``checkpoint``, ``seed``).

    Returns:
        The jobs, in the given order.

    Raises:
        GenerationError: an unknown key, a missing name or image, or a name used twice.
    """
    out, seen = [], set()
    for i, raw in enumerate(jobs):
        values = {**(defaults or {}), **raw}
        unknown = set(values) - JOB_KEYS
        if unknown:
            raise GenerationError(f"generate job {i}: unknown keys {sorted(unknown)}; known: {sorted(JOB_KEYS)}")
        if not values.get("name") or not values.get("image"):
            raise GenerationError(f"generate job {i}: `name` and `image` are required, got {dict(raw)}")
        if values["name"] in seen:
            raise GenerationError(f"generate job name {values['name']!r} is used twice; names key the outputs")
        seen.add(values["name"])
        for key in ("image", "audio", "pose", "speaker_mask"):
            if values.get(key) is not None:
                values[key] = str(inputs.path(values[key]))
        values["checkpoint"] = str(models.path(values.get("checkpoint") or "stage3"))
        out.append(GenerationJob(out=str(outputs.path(f"{values['name']}.mp4")), **values))
    return out


def run_jobs(jobs: list[GenerationJob], settings: GenerateSettings,
             caption: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Generate every job (each checkpoint loaded once); one row per job, failed ones with their reason.

    Args:
        jobs: the jobs.
        settings: sampling settings (``on_error="raise"`` stops at the first failure).
        caption: curate's caption settings.

    Returns:
        The ``generated`` table (:data:`RESULT_COLUMNS`), in job order.
    """
    from omnihuman_pipeline.weights import WeightsNotFoundError

    loaded: dict[str, Checkpoint] = {}
    rows = []
    for job in jobs:
        try:
            if job.checkpoint not in loaded:
                loaded[job.checkpoint] = load_checkpoint(job.checkpoint, settings)
            rows.append(generate_video(job, settings, caption, loaded[job.checkpoint]))
        except (GenerationError, WeightsNotFoundError) as err:
            if settings.on_error == "raise":
                raise
            logger.warning("generate %s failed: %s", job.name, err)
            rows.append({"job": job.name, "status": "failed", "error": str(err), "checkpoint": job.checkpoint,
                         "drive": job.drive, "seed": job.seed, "steps": settings.steps, "output": None})
    table = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    failed = table.loc[table["status"] != "ok", "job"].tolist()
    logger.info("generate: %d/%d jobs written%s", len(table) - len(failed), len(table),
                f" (failed: {', '.join(failed)})" if failed else "")
    if len(table) and len(failed) == len(table):  # nothing was made: the run fails, with every reason
        reasons = "; ".join(f"{r.job}: {r.error}" for r in table.itertuples())
        raise SystemExit(f"error: generate wrote 0 of {len(table)} jobs ({reasons}). Jobs name files under data/01_raw "
                         "and model folders under data/06_models: fix generate_jobs in parameters_generate.yml")
    return table


def replace_settings(settings: GenerateSettings, **changes: Any) -> GenerateSettings:
    """A copy of ``settings`` with ``changes`` (``cfg`` may be a mapping of Guidance fields to change)."""
    cfg = changes.pop("cfg", None)
    if isinstance(cfg, Mapping):
        changes["cfg"] = replace(settings.cfg, **cfg)
    elif cfg is not None:
        changes["cfg"] = cfg
    return replace(settings, **changes)
