"""Curate throughput against its floor: one PyAV decode of every frame of the same videos.

Both sides run in one invocation, on the same files, with the same number of worker processes:

    python benchmarks/curate_speed.py                      # 720p corpus (below), tiny profile
    python benchmarks/curate_speed.py --profile base       # same corpus, production settings
    python benchmarks/curate_speed.py --scorers T          # only the T filters
    python benchmarks/curate_speed.py --source-height 1080 # the same corpus at 1920×1080
    python benchmarks/curate_speed.py --raw data/01_raw    # any folder of videos
    python benchmarks/curate_speed.py --profile base --source-height 720,1080 --scorer-sets T,all \
        --write-clips eligible_T,all                       # every combination, one invocation
    python benchmarks/curate_speed.py --corpus all_person  # every shot has a person: the most clips kept

Curate is what the pipeline's first three nodes do: the analysis pass (`run_curation`: decode once at analysis
resolution, split, score), eligibility, and the media step (`write_clip_media`: an mp4 for each clip that
`media.write_clips` selects, re-decoded from its source span). The analysis of one scorer set is shared by the
`--write-clips` modes of a repeat; each mode's media step then starts from no files, so each mode's curate time is
analysis + eligibility + its own media step.

The default corpus: 8 videos × 12 s at 1280×720, 25 fps, H.264 CRF 23 + AAC (speech-like audio), each
three 4-s shots of real images with smooth camera motion and sensor noise (σ = 3 levels, so the bitrate
is that of camera footage rather than of a clean still): the astronaut framed head and shoulders (a
person, face visible: the lip-sync and pose scorers run), a coffee cup and a cat (no person). `--corpus all_person`:
three shots of the astronaut instead (the second mirrored, the second and third hue-shifted, so each cut is found):
the worst case for writing only kept clips.

The floor is timed in three decoder settings (worker processes already started) and the fastest counts:
"auto" (frame and slice threads), "default" (PyAV's default: FFmpeg picks a thread per CPU) and "single" (one
decoder thread, as in the curate workers); each also with the workers bound to a CPU each ("+pinned"), as
curate's are when they fill the machine. Floor and curate run `--repeat` times (default 3), alternating, and
the medians are compared. Prints, per source height, scorer set and write mode, the ratio curate_wall / decode_wall
(targets on 2 cores at 720p on `base`: <= 3.0 for the T filters, <= 5.0 with all scorers), the share of clips kept
(written) and each stage's share of the workers' time; writes benchmarks/results/curate_speed.json.
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


def make_person_corpus(out: Path, n_videos: int = 4, shot_s: float = 4.0, size: tuple[int, int] = (720, 1280)) -> None:
    """`--corpus all_person`: as `make_hd_corpus`, every shot the astronaut (mirrored / hue-shifted for the cuts)."""
    import numpy as np

    from omnihuman_pipeline.corpus import synth
    from omnihuman_pipeline.corpus.encode import write_video

    rng = np.random.default_rng(0)
    n = int(shot_s * 25)
    person = synth.load_image("astronaut")
    views = [(person, 0.0), (np.ascontiguousarray(person[:, ::-1]), 90.0), (person, -90.0)]
    for i in range(n_videos):
        shots = []
        for k, (image, hue) in enumerate(views):
            shot = synth.ken_burns(image, n, size, speed=2.0 + i, direction_deg=40.0 * i + 120 * k, centre=(0.5, 0.3))
            shots.append(synth.hue_rotate(shot, hue) if hue else shot)
        frames = np.concatenate(shots)
        noise = rng.normal(0, 3, frames.shape[1:]).astype(np.int16)
        frames = np.clip(frames.astype(np.int16) + np.roll(noise, i, axis=0), 0, 255).astype(np.uint8)
        audio = synth.speech_like_audio(len(frames) / 25, 48_000, seed=i)
        write_video(out / f"person_{i}.mp4", frames, fps=25, audio=audio, sample_rate=48_000, crf=23)


def load_params(profile: str) -> dict:
    params = yaml.safe_load((REPO / "conf/base/parameters_curate.yml").read_text())
    override = REPO / f"conf/{profile}/parameters_curate.yml"
    if profile != "base" and override.exists():
        for group, values in (yaml.safe_load(override.read_text()) or {}).items():
            params[group] = {**params.get(group, {}), **values} if isinstance(values, dict) else values
    return params


T_FILTERS = "motion,quality,aesthetic,person"


def scorer_set(name: str, scorers: dict, profile: str) -> dict:
    """The scorers of a named set: `all` (the profile's), `T` (the T filters), `none`, or comma-separated signals."""
    if name == "all":
        return dict(scorers)
    wanted = {"T": T_FILTERS, "none": ""}.get(name, name).split(",")
    unknown = set(wanted) - set(scorers) - {""}
    if unknown:
        raise SystemExit(f"scorers: no scorer {sorted(unknown)} in profile {profile}; known: {sorted(scorers)}")
    return {k: v for k, v in scorers.items() if k in wanted}


def _time_floor(paths: list[str], workers: int, placements: dict, floors: dict) -> int:
    from omnihuman_pipeline.execution.executor import bind_to_next_cpu, started_counter

    floor_frames = 0
    for placement, pinned in placements.items():
        with ProcessPoolExecutor(workers, initializer=bind_to_next_cpu,
                                 initargs=(pinned, started_counter() if pinned else None)) as pool:
            list(pool.map(decode_all_frames, paths[:workers]))  # start the workers outside the timing
            for mode in FLOOR_MODES:
                t0 = time.perf_counter()
                floor_frames = sum(n for n, _ in pool.map(decode_all_frames, paths, [mode] * len(paths)))
                floors[mode + placement].append(time.perf_counter() - t0)
    return floor_frames


_BARRIER = None


def _encode_worker_init(cpus, started, barrier) -> None:
    from omnihuman_pipeline.execution.executor import bind_to_next_cpu

    global _BARRIER
    _BARRIER = barrier
    bind_to_next_cpu(cpus, started)


def encode_in_memory(clips: list[dict], media: dict, out_dir: str) -> tuple[float, int]:
    """One worker's share of "encode of kept clips alone": decode the clips' frames and audio into memory as the
    media step would feed them (untimed), wait for the other workers, then time only the writing: x264 at the
    profile's settings, AAC and the mp4 mux (`ClipWriter`). Returns (seconds, frames)."""
    from omnihuman_pipeline.media.clip_writer import ClipWriter
    from omnihuman_pipeline.media.decode import FrameReader, audio_segment, decode_audio

    fps, sr = media["fps"], media["sample_rate"]
    audio: dict[str, object] = {}
    loaded = []
    for c in clips:
        reader = FrameReader(c["source_path"], fps=fps, analysis_size=None, output_size=tuple(c["size"]),
                             rotation=c["rotation"], threads=False, start=c["start_frame"], stop=c["end_frame"],
                             t0_s=c["t0_s"])
        frames = [tick.output for tick in reader]
        seg = None
        if c["has_audio"]:
            if c["source_path"] not in audio:
                audio[c["source_path"]] = decode_audio(c["source_path"], sr)[0]
            seg = audio_segment(audio[c["source_path"]], sr, c["start_frame"] / fps, c["end_frame"] / fps)
        loaded.append((c, frames, seg))
    _BARRIER.wait()
    t0 = time.perf_counter()
    for c, frames, seg in loaded:
        writer = ClipWriter(Path(out_dir) / f"{c['clip_id']}.mp4", width=c["size"][0], height=c["size"][1], fps=fps,
                            crf=media["crf"], preset=media["preset"], sample_rate=sr, with_audio=seg is not None)
        for frame in frames:
            writer.write(frame)
        writer.close(seg)
    return time.perf_counter() - t0, sum(len(f) for _, f, _ in loaded)


def time_encode_alone(table, videos, media: dict, workers: int, cpus: list[int] | None, out_dir: Path) -> float:
    """Wall seconds of writing the clips `table` has media for with their frames already decoded, on `workers`
    processes at once (the slowest one's time), each bound to a CPU as curate's are."""
    from omnihuman_pipeline.execution.executor import started_counter
    from omnihuman_pipeline.media.decode import fit_short_side

    facts = videos.drop_duplicates("video_id").set_index("video_id")
    clips = []
    for _, r in table[table["media_path"] != ""].iterrows():
        v = facts.loc[r["video_id"]]
        clips.append({"clip_id": r["clip_id"], "source_path": str(v["path"]), "start_frame": int(r["start_frame"]),
                      "end_frame": int(r["end_frame"]), "t0_s": float(r["source_t0_s"]), "rotation": int(v["rotation"]),
                      "has_audio": bool(r["has_audio"]),
                      "size": fit_short_side(int(v["width"]), int(v["height"]), media["clip_short_side"])})
    if not clips:
        return 0.0
    shares: list[list[dict]] = [[] for _ in range(workers)]
    for c in sorted(clips, key=lambda c: c["start_frame"] - c["end_frame"]):  # longest first, to the lightest
        min(shares, key=lambda s: sum(x["end_frame"] - x["start_frame"] for x in s)).append(c)
    shares = [s for s in shares if s]
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(shares))
    with ProcessPoolExecutor(len(shares), mp_context=ctx, initializer=_encode_worker_init,
                             initargs=(cpus, started_counter() if cpus else None, barrier)) as pool:
        seconds = [t for t, _ in pool.map(encode_in_memory, shares, [media] * len(shares),
                                          [str(out_dir)] * len(shares))]
    shutil.rmtree(out_dir, ignore_errors=True)
    return max(seconds)


def _join_workers() -> None:
    for worker in multiprocessing.active_children():  # workers tear down after their pool returns (~0.1 s):
        worker.join()                                  # let them finish before the next timing


def bench_height(height: int, args, params: dict, sets: dict[str, dict], modes: list[str]) -> list[dict]:
    """Floor and curate on one corpus (generated at `height`, or `--raw`): one result per scorer set and mode."""
    from omnihuman_pipeline.curation.config import CurateConfig, MediaConfig
    from omnihuman_pipeline.curation.media_step import write_clip_media
    from omnihuman_pipeline.curation.run import run_curation
    from omnihuman_pipeline.datasets.media_folder import MediaFolderDataset
    from omnihuman_pipeline.datasets.result_shards import ResultShardsDataset
    from omnihuman_pipeline.execution.executor import cpus_to_pin
    from omnihuman_pipeline.media.errors import USABLE
    from omnihuman_pipeline.scoring.eligibility import assign_eligibility

    work = Path(tempfile.mkdtemp(prefix="curate_bench_"))
    raw = args.raw
    if raw is None:
        raw = work / "raw"
        make = make_person_corpus if args.corpus == "all_person" else make_hd_corpus
        make(raw, n_videos=args.videos, size=(height, round(height * 16 / 9 / 2) * 2))
    paths = MediaFolderDataset(filepath=str(raw), extensions=params.get("media", {}).get("extensions")).load()
    store = ResultShardsDataset(filepath=str(work / "shards"), media_dir=str(work / "clips")).load()
    executor = {"name": "local", "workers": args.workers}
    rules = params["eligibility"]["rules"]

    # curate binds its workers to a CPU each when they fill the machine (`pin_cpus`); the floor is timed both ways
    cpus = cpus_to_pin(args.workers)
    placements = {"": None, "+pinned": cpus} if cpus else {"": None}
    floors: dict[str, list[float]] = {mode + p: [] for p in placements for mode in FLOOR_MODES}
    runs: dict[tuple[str, str], list[dict]] = {(s, m): [] for s in sets for m in modes}
    floor_frames, videos = 0, None
    encode_alone: dict[str, list[float]] = {}  # write mode -> seconds per repeat
    for _ in range(args.repeat):  # floor and curate alternate, so a slow spell of the machine hits both
        # 1. floor: decode every frame once, same parallelism; each decoder-thread setting, the fastest counts
        floor_frames = _time_floor(paths, args.workers, placements, floors)
        for set_name, scorers in sets.items():
            # 2. the analysis pass, from an empty store, then eligibility as the pipeline's node computes it
            shutil.rmtree(work / "shards", ignore_errors=True)
            shutil.rmtree(work / "clips", ignore_errors=True)
            config = CurateConfig.from_params(params["media"], params["scenes"], scorers, store.media_dir)
            t0 = time.perf_counter()
            videos, clips, timings = run_curation(paths, store, config, executor)
            own = {k: v for k, v in rules.items() if set_name != "T" or k == "T"}  # T set: the T rules only
            clips = assign_eligibility(clips, own, base=params["eligibility"].get("base"))
            analysis_s = time.perf_counter() - t0
            _join_workers()
            # 3. the media step of each write mode, from no clip files
            for mode in modes:
                for old in (work / "clips").rglob("*.mp4"):
                    old.unlink()
                media = MediaConfig(**{**params["media"], "write_clips": mode})
                t0 = time.perf_counter()
                table, media_timings = write_clip_media(clips, videos, media, store.media_dir, executor)
                media_s = time.perf_counter() - t0
                _join_workers()
                written = table["media_path"] != ""
                if set_name == next(iter(sets)) or mode not in encode_alone:  # the same clips for every set
                    encode_alone.setdefault(mode, []).append(
                        time_encode_alone(table, videos, params["media"], args.workers, cpus, work / "encode_alone"))
                    _join_workers()
                runs[(set_name, mode)].append({
                    "analysis_s": analysis_s, "media_s": media_s, "curate_s": analysis_s + media_s,
                    "timings": {**timings, **media_timings}, "clips": len(table),
                    "written": int(written.sum()), "written_s": float(table.loc[written, "duration_s"].sum()),
                    "clips_s": float(table["duration_s"].sum()), "eligible_T": int(table["eligible_T"].sum())})
    floor_by_mode = {k: statistics.median(v) for k, v in floors.items()}
    floor_s = min(floor_by_mode.values())
    floor_runs = [min(v[i] for v in floors.values()) for i in range(args.repeat)]  # each repeat's fastest floor
    video_s = float(videos.loc[videos["status"].isin(USABLE), "duration_s"].sum())
    results = []
    for (set_name, mode), reps in runs.items():
        curate_s = statistics.median(r["curate_s"] for r in reps)
        analysis_s = statistics.median(r["analysis_s"] for r in reps)
        media_s = statistics.median(r["media_s"] for r in reps)
        last = reps[-1]
        timings = last["timings"]
        work_s = timings.get("total", 0.0) + sum(v for k, v in timings.items() if k.startswith("media_")
                                                 and k != "media_wall")
        stages = {k: v for k, v in timings.items() if k not in ("total", "score", "media_wall")}
        results.append({
            "source_height": height if args.raw is None else None,
            "scorer_set": set_name,
            "scorers": sorted(sets[set_name]),
            "write_clips": mode,
            "clips": last["clips"],
            "clips_eligible_T": last["eligible_T"],
            "clips_written": last["written"],
            "kept_share_clips": round(last["written"] / last["clips"], 3) if last["clips"] else 0.0,
            "kept_share_seconds": round(last["written_s"] / last["clips_s"], 3) if last["clips_s"] else 0.0,
            "floor_decode_s": round(floor_s, 3),
            "curate_s": round(curate_s, 3),
            "analysis_s": round(analysis_s, 3),
            "media_s": round(media_s, 3),
            "ratio_curate_to_decode": round(curate_s / floor_s, 3),
            "ratio_analysis_to_decode": round(analysis_s / floor_s, 3),
            "ratio_media_to_decode": round(media_s / floor_s, 3),
            "encode_alone_s": round(statistics.median(encode_alone[mode]), 3),
            "ratio_encode_alone_to_decode": round(statistics.median(encode_alone[mode]) / floor_s, 3),
            "encode_alone_s_runs": [round(x, 3) for x in encode_alone[mode]],
            "curate_s_runs": [round(r["curate_s"], 3) for r in reps],
            # each repeat's curate over the same repeat's floor: on a busy machine their spread shows the noise
            "ratio_runs": [round(r["curate_s"] / f, 3) for r, f in zip(reps, floor_runs, strict=True)],
            "video_s_per_wall_s": round(video_s / curate_s, 2),
            "worker_busy_s": round(work_s, 3),
            "worker_busy_share": round(min(1.0, work_s / (args.workers * last["curate_s"])), 3),
            "stage_share_of_worker_time": {k: round(v / work_s, 3) for k, v in sorted(stages.items())} if work_s else {},
        })
    corpus = str(args.raw) if args.raw else f"generated {args.corpus}, {args.videos} x 12 s at {height}p"
    header = {"corpus": corpus, "files": len(paths), "video_seconds": round(video_s, 2), "floor_frames": floor_frames,
              "floor_decode_s_by_decoder_threads": {k: round(v, 3) for k, v in floor_by_mode.items()},
              "floor_s_runs": {k: [round(x, 3) for x in v] for k, v in floors.items()}}
    return [{**header, **r} for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", type=Path, help="folder of videos (default: generate the corpus)")
    parser.add_argument("--corpus", choices=("default", "all_person"), default="default",
                        help="generated corpus: person, cup and cat shots (default), or a person in every shot")
    parser.add_argument("--profile", default="tiny", help="Kedro environment whose curate parameters to use")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--videos", type=int, default=8, help="videos in the generated corpus (12 s each)")
    parser.add_argument("--source-height", default="720",
                        help="height(s) of the generated corpus (16:9), comma-separated; decode cost grows with it")
    parser.add_argument("--scorers", help="one scorer set: comma-separated signals (default: all in the profile); "
                        f"'T' = the T filters ({T_FILTERS}); 'none' = decode and split only")
    parser.add_argument("--scorer-sets", help="several scorer sets, comma-separated names: all, T, none "
                        "(overrides --scorers)")
    parser.add_argument("--write-clips", default=None,
                        help="media.write_clips mode(s), comma-separated: eligible_T, all, none (default: the profile's)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="floor and curate runs, alternating; the medians are compared (timings on a shared "
                             "2-core machine vary by ~10 %% from run to run)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/curate_speed.json")
    args = parser.parse_args()

    params = load_params(args.profile)
    names = args.scorer_sets.split(",") if args.scorer_sets else [args.scorers or "all"]
    sets = {name: scorer_set(name, params["scorers"], args.profile) for name in names}
    modes = (args.write_clips or params["media"].get("write_clips", "eligible_T")).split(",")
    heights = [int(h) for h in args.source_height.split(",")] if args.raw is None else [0]
    results = [r for h in heights for r in bench_height(h, args, params, sets, modes)]
    machine = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()}
    out = {"profile": args.profile, "workers": args.workers, "repeats": args.repeat, "machine": machine,
           "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))

    print(f"profile={args.profile}  workers={args.workers}  repeats={args.repeat} (medians)  corpus={args.corpus}")
    print(f"{'source':>7} {'scorers':>7} {'write_clips':>11} {'floor s':>8} {'curate s':>9} {'analysis':>9} "
          f"{'media':>7} {'ratio':>6} {'kept clips':>10} {'kept s':>7}")
    for r in results:
        src = f"{r['source_height']}p" if r["source_height"] else "raw"
        print(f"{src:>7} {r['scorer_set']:>7} {r['write_clips']:>11} {r['floor_decode_s']:8.2f} {r['curate_s']:9.2f} "
              f"{r['ratio_analysis_to_decode']:8.2f}x {r['ratio_media_to_decode']:6.2f}x {r['ratio_curate_to_decode']:6.2f}"
              f" {r['clips_written']:>4}/{r['clips']:<5} {r['kept_share_seconds']:6.0%}")
    print("ratio curate/decode = (analysis + eligibility + media step) / floor; analysis and media: their own ratios")
    for r in results:
        src = f"{r['source_height']}p" if r["source_height"] else "raw"
        print(f"  {src} {r['scorer_set']}/{r['write_clips']}: encode of kept clips alone {r['encode_alone_s']:.2f} s = "
              f"{r['ratio_encode_alone_to_decode']:.2f}x the floor (frames in memory, {args.workers} workers); floor + "
              f"that = {1 + r['ratio_encode_alone_to_decode']:.2f}x, the least any design that decodes once and "
              "encodes the kept clips can cost")
    for r in results:
        src = f"{r['source_height']}p" if r["source_height"] else "raw"
        print(f"  {src} {r['scorer_set']}/{r['write_clips']}: ratio of each repeat to its own floor "
              + ", ".join(f"{x:.2f}" for x in r["ratio_runs"]))
    for r in results:
        shares = sorted(r["stage_share_of_worker_time"].items(), key=lambda kv: -kv[1])[:5]
        src = f"{r['source_height']}p" if r["source_height"] else "raw"
        print(f"  {src} {r['scorer_set']}/{r['write_clips']}: workers busy {r['worker_busy_share']:.0%} (last run); "
              + ", ".join(f"{k} {v:.0%}" for k, v in shares))
    print(f"floor: PyAV decode of every frame, the fastest decoder-thread setting; wrote {args.out}")


if __name__ == "__main__":
    main()
