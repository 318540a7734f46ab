"""End to end on tiny model folders: the mp4 (frames = audio length, audio stream), the row, errors, the CLI."""

from __future__ import annotations

import json

import av
import pytest

from omnihuman_pipeline.generate import main as generate_main
from omnihuman_pipeline.inference import (
    GenerateSettings,
    GenerationError,
    GenerationJob,
    Guidance,
    generate_video,
    load_checkpoint,
    run_jobs,
)

FAST = GenerateSettings(steps=2, progress=False)


def job(media_dir, model_dirs, tmp_path, stage=3, **kwargs) -> GenerationJob:
    values = {"name": "j", "image": str(media_dir / "ref.png"), "out": str(tmp_path / "out.mp4"),
              "checkpoint": str(model_dirs[stage]), "audio": str(media_dir / "speech.wav"), **kwargs}
    return GenerationJob(**values)


def probe_mp4(path) -> dict:
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        facts = {"fps": float(video.average_rate), "rate": audio.rate, "size": (video.width, video.height)}
        facts["frames"] = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        facts["samples"] = sum(frame.samples for frame in container.decode(audio=0))
    return facts


@pytest.fixture(scope="module")
def stage3(model_dirs):
    return load_checkpoint(model_dirs[3], FAST)


def test_three_segment_audio_job_has_the_audio_length_and_a_playable_audio_stream(media_dir, model_dirs, tmp_path,
                                                                                  stage3):
    """3 s of speech, 25-frame segments: 3 segments, 75 frames at 25 fps, 3 s of 16 kHz AAC; a caption is written."""
    row = generate_video(job(media_dir, model_dirs, tmp_path), FAST, {"backend": "signals"}, stage3)
    facts = probe_mp4(row["output"])
    assert row["status"] == "ok" and row["segments"] == 3 and row["segment_latents"] == "7,7,6"
    assert row["frames"] == facts["frames"] == 75 and facts["fps"] == 25.0 and row["seconds"] == 3.0
    assert facts["rate"] == 16_000 and abs(facts["samples"] / 16_000 - 3.0) < 0.07  # AAC pads < 1 frame
    assert facts["size"] == (32, 32) and row["conditions"] == "text,image,audio" and row["branches"] == "null,full"
    assert row["caption_backend"] == "signals" and "one person speaking" in row["caption"]
    assert json.loads(row["backends"])["audio"] == "whisper" and row["flow_shift"] == 3.0
    assert 0.0 <= row["face_share"] <= 1.0  # the face check ran on the output


def test_same_seed_same_video_and_seconds_trims_the_audio(media_dir, model_dirs, tmp_path, stage3):
    """Seeded: two runs give identical frames; --seconds 1.2 gives 30 frames and 1.2 s of audio."""
    settings = GenerateSettings(steps=1, progress=False, cfg=Guidance("separate", 6.5, 2.0, 6.5))
    rows = [generate_video(job(media_dir, model_dirs, tmp_path / str(i), seconds=1.2, text="a person talking"),
                           settings, None, stage3) for i in range(2)]
    frames = []
    for row in rows:
        with av.open(row["output"]) as container:
            frames.append([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    assert len(frames[0]) == 30 and all((a == b).all() for a, b in zip(*frames, strict=True))
    assert rows[0]["branches"] == "null,text,full" and rows[0]["caption_backend"] == "given"
    assert abs(probe_mp4(rows[0]["output"])["samples"] / 16_000 - 1.2) < 0.07


def test_audio_and_pose_job_and_two_person_speaker(media_dir, model_dirs, tmp_path, stage3):
    """A stage-3 model drives audio + pose from keypoints; speaker 1 of the two-face image is masked (3 branches)."""
    row = generate_video(job(media_dir, model_dirs, tmp_path, pose=str(media_dir / "pose.npz"), seconds=1.0,
                             text="two people"), FAST, None, stage3)
    assert row["drive"] == "audio_pose" and row["conditions"] == "text,image,audio,pose" and row["frames"] == 25
    two = generate_video(job(media_dir, model_dirs, tmp_path / "two", image=str(media_dir / "two.png"), speaker=1,
                             seconds=0.6, text="two people"), FAST, None, stage3)
    assert two["speaker"] == "face:1" and two["branches"] == "null,text,full" and two["frames"] == 15


def test_pose_only_job_from_a_skeleton_video(media_dir, model_dirs, tmp_path, stage3):
    """Pose alone (audio off, text guided): 7 frames from a 3-latent (9-frame) segment trimmed; a too-short pose video fails."""
    row = generate_video(job(media_dir, model_dirs, tmp_path, audio=None, pose=str(media_dir / "skeleton.mp4"),
                             seconds=0.28, text="a person"), FAST, None, stage3)
    assert row["drive"] == "pose" and row["conditions"] == "text,image,pose" and row["branches"] == "null,text"
    assert row["frames"] == 7 and row["segment_latents"] == "3"
    with av.open(row["output"]) as container:
        assert not container.streams.audio and sum(1 for _ in container.decode(video=0)) == 7
    with pytest.raises(GenerationError, match=r"skeleton.mp4 has 25 frames at 25 fps but 50 are needed"):
        generate_video(job(media_dir, model_dirs, tmp_path, audio=None, pose=str(media_dir / "skeleton.mp4"),
                           seconds=2.0, text="a person"), FAST, None, stage3)


def test_bad_inputs_are_clear_errors(media_dir, model_dirs, tmp_path, stage3):
    """Undecodable audio, no face for a speaker mask, pose asked of a stage-2 model, a wrong backend: each named."""
    with pytest.raises(GenerationError, match=r"garbage.wav is not decodable.*WAV"):
        generate_video(job(media_dir, model_dirs, tmp_path, audio=str(media_dir / "garbage.wav")), FAST, None, stage3)
    with pytest.raises(GenerationError, match="no face found in reference image .*coffee.png.*speaker_mask"):
        generate_video(job(media_dir, model_dirs, tmp_path, image=str(media_dir / "coffee.png"), speaker=0),
                       FAST, None, stage3)
    with pytest.raises(GenerationError, match=r"stage 2.*cannot drive pose.*stage-3"):
        generate_video(job(media_dir, model_dirs, tmp_path, stage=2, pose=str(media_dir / "pose.npz")), FAST)
    with pytest.raises(GenerationError, match=r"audio backend 'wav2vec2' was asked for.*trained on 'whisper'"):
        load_checkpoint(model_dirs[3], GenerateSettings(backends={"audio": "wav2vec2"}))
    with pytest.raises(GenerationError, match="not a model folder"):
        load_checkpoint(tmp_path / "nothing", FAST)


def test_run_jobs_records_a_failed_job_and_runs_the_rest(media_dir, model_dirs, tmp_path):
    """One job with a missing image fails with its reason in the table; the other is written."""
    jobs = [job(media_dir, model_dirs, tmp_path, name="bad", image=str(tmp_path / "missing.png")),
            job(media_dir, model_dirs, tmp_path, name="good", seconds=0.2, text="hi")]
    table = run_jobs(jobs, FAST)
    assert table["status"].tolist() == ["failed", "ok"] and "not found" in table.loc[0, "error"]
    assert table.loc[1, "frames"] == 5
    with pytest.raises(SystemExit, match=r"generate wrote 0 of 1 jobs \(bad: .*not found.*\)"):
        run_jobs(jobs[:1], FAST)


def test_cli_writes_the_video_and_reports_bad_input(media_dir, model_dirs, tmp_path, capsys):
    """`python -m omnihuman_pipeline.generate` with the tiny profile's defaults; a stage-2 pose job exits 2."""
    out = tmp_path / "cli.mp4"
    code = generate_main(["--image", str(media_dir / "ref.png"), "--audio", str(media_dir / "speech.wav"),
                          "--checkpoint", str(model_dirs[3]), "--seconds", "0.4", "--text", "hello", "--steps", "1",
                          "--out", str(out), "--env", "tiny", "--no-progress"])
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and out.is_file() and row["frames"] == 10 and row["steps"] == 1
    code = generate_main(["--image", str(media_dir / "ref.png"), "--pose", str(media_dir / "pose.npz"),
                          "--checkpoint", str(model_dirs[2]), "--out", str(tmp_path / "x.mp4"), "--no-progress"])
    assert code == 2 and "stage-3" in capsys.readouterr().err


def test_non_finite_and_damaged_checkpoints_are_refused_and_flat_outputs_fail(model_dirs, tmp_path):
    """NaN weights and a truncated model.safetensors are one error naming the file; a flat video is no output."""
    import shutil

    import numpy as np
    from safetensors.torch import load_file, save_file

    from omnihuman_pipeline.inference.run import is_constant
    from omnihuman_pipeline.models.export import ModelFolderError, load_model_folder

    src = model_dirs[3]
    nan_dir, cut_dir = tmp_path / "nan", tmp_path / "cut"
    for d in (nan_dir, cut_dir):
        shutil.copytree(src, d)
    state = load_file(str(nan_dir / "model.safetensors"))
    state["final_layer.proj_out.weight"][0, 0] = float("nan")
    save_file(state, str(nan_dir / "model.safetensors"))
    with pytest.raises(ModelFolderError, match=r"nan/model.safetensors holds non-finite weights .*final_layer"):
        load_model_folder(nan_dir)
    data = (cut_dir / "model.safetensors").read_bytes()
    (cut_dir / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFolderError, match=r"cut/model.safetensors cannot be read .*damaged or incomplete"):
        load_model_folder(cut_dir)
    black = np.zeros((5, 8, 8, 3), np.uint8)
    assert is_constant(black) and not is_constant(np.concatenate([black, black + 40], axis=1))


def test_streamed_segments_decode_to_the_whole_sequence():
    """Each segment decoded after its motion latents gives exactly the frames of one decode of the whole sequence."""
    import numpy as np
    import torch

    from omnihuman_pipeline.features.codec import PatchifyCodec, to_uint8
    from omnihuman_pipeline.inference.run import FrameSink, SegmentOutput

    codec, frames = PatchifyCodec(), []

    class Writer:
        def write(self, frame):
            frames.append(frame)

    gen = torch.Generator().manual_seed(0)
    sequence = torch.rand(1, 768, 9, 2, 2, generator=gen) * 2 - 1
    sink = FrameSink(Writer(), codec.decode, n_frames=30)
    for i, (a, b) in enumerate([(0, 4), (4, 7), (7, 9)]):
        sink(i, SegmentOutput(sequence[:, :, a:b], None if a == 0 else sequence[:, :, a - 2:a]))
    whole = to_uint8(codec.decode(sequence[0]))[:30]
    assert sink.written == 30 and np.array_equal(np.stack(frames), whole) and not sink.flat
    assert len(sink.kept) == 16 and np.array_equal(sink.kept[-1], whole[29])  # the face check's evenly spread frames


def test_face_check_finds_the_astronaut_and_not_noise():
    """The generation's face check (FaceMesh): a real face in every frame -> 1, coloured noise -> 0."""
    import numpy as np
    from skimage import data

    from omnihuman_pipeline.inference.run import face_share

    face = np.ascontiguousarray(data.astronaut()[:256, 96:352])
    noise = np.random.default_rng(0).integers(0, 256, (4, 256, 256, 3), dtype=np.uint8)
    assert face_share(np.stack([face] * 4)) == 1.0 and face_share(noise) == 0.0


@pytest.mark.slow
def test_generation_memory_does_not_grow_with_the_length_of_the_audio(media_dir, model_dirs, tmp_path):
    """Peak RSS of a 120-s job is within 60 MB of a 10-s job's. Measured: +35 MB, the drive's audio samples (the
    video path alone is flat: 10 s and 240 s of frames peak within 1 MB); holding the whole drive's Whisper states
    gave +110 MB here."""
    import subprocess
    import sys

    import numpy as np
    from scipy.io import wavfile

    from tests.inference.conftest import SR

    sr, speech = wavfile.read(media_dir / "speech.wav")
    peaks = {}
    for seconds in (10, 120):
        wav = tmp_path / f"drive_{seconds}.wav"
        wavfile.write(wav, sr, np.resize(speech, seconds * SR))
        out = subprocess.run([sys.executable, "-m", "tests.inference.peak_rss_job", str(model_dirs[2]),
                              str(media_dir / "ref.png"), str(wav), str(tmp_path / f"out_{seconds}.mp4")],
                             capture_output=True, text=True, check=True, timeout=900)
        peaks[seconds] = json.loads(out.stdout.strip().splitlines()[-1])
        assert peaks[seconds]["frames"] == seconds * 25
    assert peaks[120]["peak_rss_mb"] - peaks[10]["peak_rss_mb"] < 60, peaks


def test_help_shows_the_sampling_defaults(capsys):
    """--help prints the steps, CFG and device a run without flags uses."""
    with pytest.raises(SystemExit):
        generate_main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 30 from conf/base" in text and "(default: 6.5 from conf/base" in text
    assert "(default: cpu from conf/base" in text and "(default: data/06_models/stage3)" in text
