"""Curate throughput against its floor: one PyAV decode of every frame of the same videos.

Both sides run in one invocation, on the same files, with the same number of worker processes:

    python benchmarks/curate_speed.py                      # 720p corpus (below), tiny profile
    python benchmarks/curate_speed.py --profile base       # same corpus, production settings
    python benchmarks/curate_speed.py --scorers T          # only the T filters (issue 3)
    python benchmarks/curate_speed.py --source-height 1080 # the same corpus at 1920×1080
    python benchmarks/curate_speed.py --raw data/01_raw    # any folder of videos

The default corpus: 8 videos × 12 s at 1280×720, 25 fps, H.264 CRF 23 + AAC (speech-like audio), each
three 4-s shots of real images with smooth camera motion and sensor noise (σ = 3 levels, so the bitrate
is that of camera footage rather than of a clean still): the astronaut framed head and shoulders (a
person, face visible: the lip-sync and pose scorers run), a coffee cup and a cat (no person).

The floor is timed in three decoder settings (worker processes already started) and the fastest counts:
"auto" (frame and slice threads), "default" (PyAV's default: FFmpeg picks a thread per CPU) and "single" (one
decoder thread, as in the curate workers); each also with the workers bound to a CPU each ("+pinned"), as
curate's are when they fill the machine. Floor and curate run `--repeat` times (default 3), alternating, and
the medians are compared. Prints the ratio curate_wall / decode_wall (targets on 2 cores: <= 2.0 for the T
filters, issue 3; <= 5.0 with all scorers, issue 4), seconds of video per wall second, and each stage's share of
the workers' time; writes benchmarks/results/curate_speed.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def decode_all_frames(path: str, threads: str = "default") -> tuple[int, float]:
    """The floor for one file: demux and decode every video frame once, with FFmpeg's decoder threads set to
    `threads`: "auto" (frame and slice threads), "default" (PyAV's default) or "single" (one thread)."""
    import av

    frames = 0
    try:
        with av.open(path, metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            if threads == "single":
                stream.codec_context.thread_count = 1
            elif threads == "auto":
                stream.thread_type = "AUTO"
            for _ in container.decode(stream):
                frames += 1
    except (av.FFmpegError, IndexError):
        pass
    return frames, 0.0


FLOOR_MODES = ("auto", "default", "single")


def make_hd_corpus(out: Path, n_videos: int = 4, shot_s: float = 4.0, size: tuple[int, int] = (720, 1280)) -> None:
    """Write the default benchmark corpus (see the module docstring)."""
    import numpy as np

    from omnihuman_pipeline.corpus import synth
    from omnihuman_pipeline.corpus.encode import write_video

    rng = np.random.default_rng(0)
    n = int(shot_s * 25)
    for i in range(n_videos):
        shots = [synth.ken_burns(synth.load_image(name), n, size, speed=2.0 + i, direction_deg=40.0 * i,
                                 centre=(0.5, 0.3) if name == "astronaut" else (0.5, 0.5))
                 for name in ("astronaut", "coffee", "chelsea")]
        frames = np.concatenate(shots)
        noise = rng.normal(0, 3, frames.shape[1:]).astype(np.int16)
        frames = np.clip(frames.astype(np.int16) + np.roll(noise, i, axis=0), 0, 255).astype(np.uint8)
        audio = synth.speech_like_audio(len(frames) / 25, 48_000, seed=i)
        write_video(out / f"hd_{i}.mp4", frames, fps=25, audio=audio, sample_rate=48_000, crf=23)


def one_corpus_video(prefix: str) -> Path:
    """One video of the default corpus (12 s at 720p) in a new temporary folder, for the smaller benchmarks."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    make_hd_corpus(folder, n_videos=1)
    return folder / "hd_0.mp4"


def load_params(profile: str) -> dict:
    params = yaml.safe_load((REPO / "conf/base/parameters_curate.yml").read_text())
    override = REPO / f"conf/{profile}/parameters_curate.yml"
    if profile != "base" and override.exists():
        for group, values in (yaml.safe_load(override.read_text()) or {}).items():
            params[group] = {**params.get(group, {}), **values} if isinstance(values, dict) else values
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", type=Path, help="folder of videos (default: generate the tiny corpus)")
    parser.add_argument("--profile", default="tiny", help="Kedro environment whose curate parameters to use")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--videos", type=int, default=8, help="videos in the generated corpus (12 s each)")
    parser.add_argument("--source-height", type=int, default=720,
                        help="height of the generated corpus (16:9); decode cost grows with it, scoring does not")
    parser.add_argument("--scorers", help="comma-separated signals to run (default: all in the profile); "
                        "'T' = the T filters of issue 3: motion,quality,aesthetic,person; 'none' = decode, split and "
                        "encode only")
    parser.add_argument("--repeat", type=int, default=3,
                        help="floor and curate runs, alternating; the medians are compared (timings on a shared "
                             "2-core machine vary by ~10 %% from run to run)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/curate_speed.json")
    args = parser.parse_args()

    from omnihuman_pipeline.curation.config import CurateConfig
    from omnihuman_pipeline.curation.run import run_curation
    from omnihuman_pipeline.datasets.media_folder import MediaFolderDataset
    from omnihuman_pipeline.datasets.result_shards import ResultShardsDataset
    from omnihuman_pipeline.execution.executor import bind_to_next_cpu, cpus_to_pin, started_counter
    from omnihuman_pipeline.media.errors import USABLE

    params = load_params(args.profile)
    scorers = params["scorers"]
    if args.scorers:
        named = {"T": "motion,quality,aesthetic,person", "none": ""}
        wanted = named.get(args.scorers, args.scorers).split(",")
        unknown = set(wanted) - set(scorers) - {""}
        if unknown:
            parser.error(f"--scorers: no scorer {sorted(unknown)} in profile {args.profile}; known: {sorted(scorers)}")
        scorers = {k: v for k, v in scorers.items() if k in wanted}

    work = Path(tempfile.mkdtemp(prefix="curate_bench_"))
    raw = args.raw
    if raw is None:
        raw = work / "raw"
        make_hd_corpus(raw, n_videos=args.videos, size=(args.source_height, round(args.source_height * 16 / 9 / 2) * 2))
    paths = MediaFolderDataset(filepath=str(raw), extensions=params.get("media", {}).get("extensions")).load()
    store = ResultShardsDataset(filepath=str(work / "shards"), media_dir=str(work / "clips")).load()
    config = CurateConfig.from_params(params["media"], params["scenes"], scorers, store.media_dir)

    # curate binds its workers to a CPU each when they fill the machine (`pin_cpus`); the floor is timed both ways
    cpus = cpus_to_pin(args.workers)
    placements = {"": None, "+pinned": cpus} if cpus else {"": None}
    floors: dict[str, list[float]] = {mode + p: [] for p in placements for mode in FLOOR_MODES}
    curates: list[float] = []
    for _ in range(args.repeat):  # floor and curate alternate, so a slow spell of the machine hits both
        # 1. floor: decode every frame once, same parallelism; each decoder-thread setting, the fastest counts
        for placement, pinned in placements.items():
            with ProcessPoolExecutor(args.workers, initializer=bind_to_next_cpu,
                                     initargs=(pinned, started_counter() if pinned else None)) as pool:
                list(pool.map(decode_all_frames, paths[: args.workers]))  # start the workers outside the timing
                for mode in FLOOR_MODES:
                    t0 = time.perf_counter()
                    floor_frames = sum(n for n, _ in pool.map(decode_all_frames, paths, [mode] * len(paths)))
                    floors[mode + placement].append(time.perf_counter() - t0)
        # 2. curate: the pipeline's per-video work and merge, from an empty store
        shutil.rmtree(work / "shards", ignore_errors=True)
        shutil.rmtree(work / "clips", ignore_errors=True)
        t0 = time.perf_counter()
        videos, clips, timings = run_curation(paths, store, config, {"name": "local", "workers": args.workers})
        curates.append(time.perf_counter() - t0)
        for worker in multiprocessing.active_children():  # curate's workers tear down after it returns (~0.1 s):
            worker.join()                                  # let them finish before the next floor is timed
    floor_by_mode = {k: statistics.median(v) for k, v in floors.items()}
    floor_s = min(floor_by_mode.values())
    curate_s = statistics.median(curates)

    video_s = float(videos.loc[videos["status"].isin(USABLE), "duration_s"].sum())
    work_s = timings.get("total", 0.0)
    stages = {k: v for k, v in timings.items() if k not in ("total", "score")}
    result = {
        "profile": args.profile,
        "scorers": sorted(scorers),
        "workers": args.workers,
        "files": len(paths),
        "corpus": str(args.raw) if args.raw else f"generated, {args.videos} x 12 s at {args.source_height}p",
        "video_seconds": round(video_s, 2),
        "clips": len(clips),
        "floor_decode_s": round(floor_s, 3),
        "floor_decode_s_by_decoder_threads": {k: round(v, 3) for k, v in floor_by_mode.items()},
        "repeats": args.repeat,
        "curate_s_runs": [round(v, 3) for v in curates],
        "floor_s_runs": {k: [round(x, 3) for x in v] for k, v in floors.items()},
        "floor_frames": floor_frames,
        "curate_s": round(curate_s, 3),
        "ratio_curate_to_decode": round(curate_s / floor_s, 3),
        "video_s_per_wall_s": round(video_s / curate_s, 2),
        "worker_busy_s": round(work_s, 3),
        "worker_busy_share": round(work_s / (args.workers * curates[-1]), 3),  # the last run: its timings
        "stage_share_of_worker_time": {k: round(v / work_s, 3) for k, v in sorted(stages.items())} if work_s else {},
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"files={len(paths)}  video={video_s:.1f} s  clips={len(clips)}  workers={args.workers}  profile={args.profile}"
          f"  scorers={','.join(sorted(scorers))}")
    print(f"floor (PyAV decode of every frame, the fastest decoder-thread setting): {floor_s:.2f} s  "
          f"({', '.join(f'{k} {v:.2f} s' for k, v in floor_by_mode.items())})")
    print(f"curate (probe, decode, split, encode clips, score):  {curate_s:.2f} s"
          + (f"  (median of {', '.join(f'{v:.2f}' for v in curates)})" if args.repeat > 1 else ""))
    print(f"ratio curate/decode = {result['ratio_curate_to_decode']:.2f}   "
          f"throughput = {result['video_s_per_wall_s']:.1f} s of video per wall second")
    print(f"workers busy (last run) {work_s:.2f} s = {result['worker_busy_share']:.0%} of workers x wall "
          "(the rest: worker start-up, model loading, hashing, merging, idle)")
    for stage, share in result["stage_share_of_worker_time"].items():
        print(f"  {stage:24s} {share:6.1%} of worker time")
    if {"person", "face", "pose"} & set(scorers):
        print("  (person, face and pose share MediaPipe detections: each is counted in the scorer that ran it first)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
