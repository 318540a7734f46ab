"""How much a busy second core slows decoding on this machine (the floor of `curate_speed.py` runs two decoders).

    python benchmarks/core_contention.py             # a generated 720p video (curate_speed's corpus, 1 video)
    python benchmarks/core_contention.py --video x.mp4

Times a PyAV decode of every frame (FFmpeg threads off, as in the curate workers) alone, then while a second
process keeps the other core busy with, in turn: another decode (what the floor's second worker does), MediaPipe
inference (scoring) and a pure Python loop. On two independent cores each pairing would leave the decode at its
solo speed. Where the two "cores" share one physical core or its caches (two hyperthreads of a VM), the decode slows
down whatever runs next to it; then the floor's two decoders together barely outrun one, while curate's other
stages still gain from the second core. Read with `curate_speed.py`: it explains why the ratio moves with the
machine, not only with the code.
Prints ms per decoded frame for each pairing and writes benchmarks/results/core_contention.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def decode_ms_per_frame(path: str, repeat: int = 4) -> float:
    """Best of `repeat` passes: ms per frame of decoding every frame of `path` in this process."""
    import av

    best = float("inf")
    for _ in range(repeat):
        with av.open(path) as container:
            t0, n = time.perf_counter(), 0
            for _ in container.decode(container.streams.video[0]):
                n += 1
            best = min(best, (time.perf_counter() - t0) / max(n, 1) * 1000)
    return best


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


def with_neighbour(kind: str, path: str) -> float:
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    neighbour = ctx.Process(target=_busy, args=(kind, path, stop))
    neighbour.start()
    time.sleep(2.0)  # let it import and reach its steady state
    try:
        return decode_ms_per_frame(path)
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
    alone = decode_ms_per_frame(str(video))
    result = {"video": str(video), "decode_ms_per_frame": {"alone": round(alone, 3)}, "slowdown": {}}
    print(f"{video.name}: decode alone {alone:.3f} ms/frame")
    for kind in ("decode", "mediapipe", "python"):
        ms = with_neighbour(kind, str(video))
        result["decode_ms_per_frame"][f"next_to_{kind}"] = round(ms, 3)
        result["slowdown"][f"next_to_{kind}"] = round(ms / alone, 2)
        print(f"  next to {kind:10s} {ms:.3f} ms/frame  ({ms / alone:.2f}x)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
