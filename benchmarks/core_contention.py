"""What FFmpeg's own threads are worth in a curate worker, whose neighbour keeps the other core busy.

    python benchmarks/core_contention.py             # a generated 720p video (curate_speed's corpus, 1 video)
    python benchmarks/core_contention.py --video x.mp4

Times, per frame of the video: a PyAV decode of every frame with FFmpeg's default threading (PyAV sets no thread
type; libavcodec picks a thread per CPU) and with one thread, and the curate worker's two swscale conversions
(720p -> clip size in YUV, then RGB, AREA) with swscale's default threads and with one. Each alone, then while a
second process keeps the other core busy with, in turn: another decode (what the floor's second worker does),
MediaPipe inference (scoring) and a pure Python loop.

What it showed on the 2-vCPU machine: alone, FFmpeg's threads use the second core (decode 0.85 vs 1.5 ms a frame);
next to any busy neighbour that core is taken and the threaded decode falls to the one-thread speed, which itself
barely moves (the cores do not slow each other down). swscale's threads cost more than they give on frames this
small, alone and next to a neighbour. Curate's workers therefore decode and scale with one thread each.
Prints ms per frame for each pairing and writes benchmarks/results/core_contention.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def decode_ms_per_frame(path: str, mode: str = "default", repeat: int = 4) -> float:
    """Best of `repeat` passes: ms per frame of decoding every frame of `path` in this process.

    Modes: "threads" (FFmpeg's decoder threads) or "single" (one decoder thread), alone or with the curate worker's
    two conversions, "+sws threads" (swscale's default threads) or "+sws single" (one thread)."""
    import av
    from av.video.reformatter import VideoReformatter

    decoder, _, sws = mode.partition("+sws ")
    threads = {"threads": None, "single": 1}.get(sws)  # None: swscale's default, a thread per CPU
    best = float("inf")
    for _ in range(repeat):
        with av.open(path) as container:
            stream = container.streams.video[0]
            if decoder == "single":
                stream.codec_context.thread_count = 1
            to_clip, to_rgb = VideoReformatter(), VideoReformatter()
            t0, n = time.perf_counter(), 0
            for frame in container.decode(stream):
                if sws:
                    small = to_clip.reformat(frame, width=456, height=256, format="yuv420p", interpolation="AREA",
                                             threads=threads)
                    to_rgb.reformat(small, format="rgb24", interpolation="AREA", threads=threads).to_ndarray()
                n += 1
            best = min(best, (time.perf_counter() - t0) / max(n, 1) * 1000)
    return best


MODES = ("threads", "single", "single+sws threads", "single+sws single")


def _busy(kind: str, path: str, stop) -> None:
    """Keep one core busy with `kind` until `stop` is set."""
    if kind == "decode":
        import av

        while not stop.is_set():
            with av.open(path) as container:
                for _ in container.decode(container.streams.video[0]):
                    if stop.is_set():
                        return
    elif kind == "mediapipe":
        import numpy as np

        from omnihuman_pipeline.scoring import _mediapipe

        frame = np.random.default_rng(0).integers(0, 255, (192, 342, 3), dtype=np.uint8)
        graph = _mediapipe.solution("pose", **_mediapipe.pose_options(0.5))
        while not stop.is_set():
            graph.process(frame)
    else:  # pure Python: the interpreter loop, no vector units
        x = 0
        while not stop.is_set():
            for i in range(100_000):
                x += i


def with_neighbour(kind: str, path: str) -> dict[str, float]:
    """ms per frame in every mode while a second process keeps the other core busy with `kind`."""
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    neighbour = ctx.Process(target=_busy, args=(kind, path, stop))
    neighbour.start()
    time.sleep(2.0)  # let it import and reach its steady state
    try:
        return {mode: decode_ms_per_frame(path, mode) for mode in MODES}
    finally:
        stop.set()
        neighbour.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, help="a video (default: generate one 720p corpus video)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/core_contention.json")
    args = parser.parse_args()
    video = args.video
    if video is None:
        sys.path.insert(0, str(REPO / "benchmarks"))
        from curate_speed import one_corpus_video

        video = one_corpus_video("contention_bench_")
    rows = {"alone": {mode: decode_ms_per_frame(str(video), mode) for mode in MODES}}
    for kind in ("decode", "mediapipe", "python"):
        rows[f"next_to_{kind}"] = with_neighbour(kind, str(video))
    result = {"video": str(video), "ms_per_frame": {k: {m: round(v, 3) for m, v in r.items()} for k, r in rows.items()}}
    print(f"{video.name}: ms per frame" + "".join(f"{m:>19s}" for m in MODES))
    for name, row in rows.items():
        print(f"  {name:18s}" + "".join(f"{row[m]:19.3f}" for m in MODES))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
