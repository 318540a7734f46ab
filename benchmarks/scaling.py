"""Which swscale filter the curate decode should scale with: time per frame and fidelity, in one run.

    python benchmarks/scaling.py                     # a generated 720p clip (curate_speed's corpus, 1 video)
    python benchmarks/scaling.py --video some.mp4
    python benchmarks/scaling.py --analysis          # the ways to the RGB analysis frame, straight from the source

For each filter, the two scalings `media.decode.FrameReader` does per frame: source -> clip size in yuv420p (what
the encoder takes) and clip size -> analysis size in RGB (what the scorers read), with the tiny profile's sizes
(short sides 256 and 192). Fidelity is the PSNR (dB) against PIL's Lanczos resampling of the same RGB picture:
higher is closer; a filter that aliases scores low. Prints a table and writes benchmarks/results/scaling.json.

`--analysis`: the analysis pass scales each decoded source frame straight to the RGB analysis frame (short side
256) with AREA. For each way of doing it (`ANALYSIS_PATHS`): ms a frame over the decode alone, in the decode loop
(best of 5 interleaved passes, one thread), and its fidelity against two float references of the same picture:
swscale's own float output with the same filter and full chroma (`gbrpf32le`), and OpenCV's float area resize of
the Y, U and V planes converted with the BT.601 limited-range matrix. Both paths' PSNR (dB) and largest error
(levels) are printed, with the largest difference from the packed `rgb24` path; writes benchmarks/results/
scaling_analysis.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FILTERS = ("FAST_BILINEAR", "BILINEAR", "AREA", "BICUBIC")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255**2 / max(mse, 1e-12))


def _decode_loop(video: Path, n: int, visit) -> None:
    """Decode the first `n` frames and pass each to `visit` while it is fresh in the cache (as in curate)."""
    import av

    with av.open(str(video)) as container:
        for i, frame in enumerate(container.decode(container.streams.video[0])):
            if i == n:
                break
            visit(frame)


def measure(video: Path, n: int, size: tuple[int, int], fmt: str, name: str, via: tuple[int, int] | None = None,
            repeat: int = 3) -> dict:
    """ms per frame of one scaling to `size` in `fmt` with filter `name` (the call alone, timed per frame, best
    of `repeat` passes), and its mean PSNR against Lanczos. `via`: first scale to this size in yuv420p with AREA
    (not timed), as the analysis frame is derived from the clip-size frame."""
    from av.video.reformatter import VideoReformatter
    from PIL import Image

    pre, scaler = VideoReformatter(), VideoReformatter()  # one context each, reused, as FrameReader does
    kw = {"width": size[0], "height": size[1], "format": fmt, "interpolation": name}
    passes, scores = [], []

    def prepare(frame):
        return pre.reformat(frame, width=via[0], height=via[1], format="yuv420p", interpolation="AREA") if via else frame

    def timed(frame):
        src = prepare(frame)
        t0 = time.perf_counter()
        scaler.reformat(src, **kw)
        passes[-1] += time.perf_counter() - t0

    def fidelity(frame):
        if len(scores) < max(1, n // 10):
            src = prepare(frame)
            gold = np.asarray(Image.fromarray(src.to_ndarray(format="rgb24")).resize(size, Image.LANCZOS))
            scores.append(psnr(scaler.reformat(src, **kw).to_ndarray(format="rgb24"), gold))

    for _ in range(repeat):
        passes.append(0.0)
        _decode_loop(video, n, timed)
    _decode_loop(video, n, fidelity)
    return {"ms_per_frame": round(min(passes) / n * 1000, 3), "psnr_vs_lanczos_db": round(float(np.mean(scores)), 2)}


def _planes(frame, width: int, height: int) -> list[np.ndarray]:
    return [np.frombuffer(p, np.uint8, count=p.line_size * height).reshape(height, p.line_size)[:, :width]
            for p in frame.planes]


def analysis_paths(size: tuple[int, int]) -> dict:
    """Each candidate way from a decoded frame to RGB uint8 [h, w, 3] at `size`, as a function of the frame."""
    import cv2
    from av.video.reformatter import Interpolation, VideoReformatter

    from omnihuman_pipeline.media.decode import FrameReader

    w, h = size
    one, two = VideoReformatter(), VideoReformatter()
    reader = FrameReader.__new__(FrameReader)  # the reader's own scaling, on frames decoded here
    reader.rotation, reader.small_size, reader._scalers = 0, None, {}
    area, full = Interpolation.AREA, Interpolation.AREA | Interpolation.FULL_CHR_H_INT
    k, c = 255 / 219, 255 / 224  # BT.601 limited range: Y 16-235, U and V 16-240
    bt601 = np.array([[k, 0, 1.402 * c], [k, -0.344136 * c, -0.714136 * c], [k, 1.772 * c, 0]], np.float32)
    bt601 = np.hstack([bt601, -(bt601 @ np.array([16, 128, 128], np.float32))[:, None]])

    def gbrp(frame):
        g, b, r = _planes(one.reformat(frame, width=w, height=h, format="gbrp", interpolation=area, threads=1), w, h)
        return cv2.merge([r, g, b])

    def yuv444p(frame):
        return one.reformat(frame, width=w, height=h, format="yuv444p", interpolation=area, threads=1)

    return {
        "rgb24 (packed, before)": lambda f: one.reformat(f, width=w, height=h, format="rgb24", interpolation=area,
                                                         threads=1).to_ndarray(),
        "rgb24 + FULL_CHR_H_INT": lambda f: one.reformat(f, width=w, height=h, format="rgb24", interpolation=full,
                                                         threads=1).to_ndarray(),
        "yuv444p -> swscale rgb24": lambda f: two.reformat(yuv444p(f), format="rgb24", threads=1).to_ndarray(),
        "yuv444p -> cv2.transform": lambda f: cv2.transform(cv2.merge(_planes(yuv444p(f), w, h)), bt601),
        "gbrp + cv2.merge": gbrp,
        "gbrp -> swscale rgb24 (now)": lambda f: reader._rgb(f, size)[0],
    }


def float_references(frame, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(swscale's float full-chroma output, OpenCV float area of Y/U/V then BT.601) of one frame, RGB 0-255."""
    import cv2
    from av.video.reformatter import Interpolation, VideoReformatter

    w, h = size
    flags = Interpolation.AREA | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT | Interpolation.FULL_CHR_H_INP
    out = VideoReformatter().reformat(frame, width=w, height=h, format="gbrpf32le", interpolation=flags, threads=1)
    g, b, r = (np.frombuffer(p, np.float32).reshape(h, -1)[:, :w] for p in out.planes)
    sws = np.stack([r, g, b], -1).astype(np.float64) * 255
    a, fw, fh = frame.to_ndarray(format="yuv420p"), frame.width, frame.height
    y = a[:fh].astype(np.float32)
    u = a[fh:fh + fh // 4].reshape(fh // 2, fw // 2).astype(np.float32)
    v = a[fh + fh // 4:].reshape(fh // 2, fw // 2).astype(np.float32)
    y, u, v = (cv2.resize(p, (w, h), interpolation=cv2.INTER_AREA) for p in (y, u, v))
    y, u, v = (y - 16) * 255 / 219, (u - 128) * 255 / 224, (v - 128) * 255 / 224
    ocv = np.clip(np.stack([y + 1.402 * v, y - 0.344136 * u - 0.714136 * v, y + 1.772 * u], -1), 0, 255)
    return sws, ocv.astype(np.float64)


def measure_analysis(video: Path, n: int, size: tuple[int, int], passes: int = 5) -> dict:
    """ms a frame over the decode and fidelity of every `analysis_paths` entry (see the module docstring)."""
    import av

    paths = {"decode alone": lambda f: None, **analysis_paths(size)}
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(passes):  # interleaved, so a slow spell of the machine hits every path
        for name, fn in paths.items():
            with av.open(str(video)) as container:
                stream = container.streams.video[0]
                stream.codec_context.thread_count = 1
                t0, count = time.perf_counter(), 0
                for frame in container.decode(stream):
                    fn(frame)
                    count += 1
                    if count == n:
                        break
                times[name].append((time.perf_counter() - t0) / count * 1000)
    decode_ms = min(times.pop("decode alone"))
    del paths["decode alone"]
    errors: dict[str, dict[str, list[float]]] = {name: {"sws": [], "ocv": [], "max": [], "diff": []} for name in paths}
    with av.open(str(video)) as container:
        for i, frame in enumerate(container.decode(container.streams.video[0])):
            if i == n:
                break
            if i % 10:
                continue
            sws, ocv = float_references(frame, size)
            before = None
            for name, fn in paths.items():
                out = fn(frame).astype(np.float64)
                before = out if before is None else before
                errors[name]["sws"].append(psnr(out, sws))
                errors[name]["ocv"].append(psnr(out, ocv))
                errors[name]["max"].append(float(np.abs(out - sws).max()))
                errors[name]["diff"].append(float(np.abs(out - before).max()))
    return {"decode_ms_per_frame": round(decode_ms, 3), "size": list(size), "paths": {name: {
        "ms_per_frame_over_decode": round(min(times[name]) - decode_ms, 3),
        "psnr_vs_swscale_float_db": round(float(np.mean(e["sws"])), 2),
        "psnr_vs_opencv_float_db": round(float(np.mean(e["ocv"])), 2),
        "max_abs_error_vs_swscale_float": round(max(e["max"]), 2),
        "max_abs_diff_vs_packed_rgb24": round(max(e["diff"]), 2)} for name, e in errors.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, help="a video (default: generate one 720p corpus video)")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--analysis", action="store_true",
                        help="compare the ways from a source frame to the RGB analysis frame (short side 256)")
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/scaling[_analysis].json")
    args = parser.parse_args()
    args.out = args.out or REPO / f"benchmarks/results/scaling{'_analysis' if args.analysis else ''}.json"

    import av

    from omnihuman_pipeline.media.decode import fit_short_side

    video = args.video
    if video is None:
        sys.path.insert(0, str(REPO / "benchmarks"))
        from curate_speed import one_corpus_video

        video = one_corpus_video("scaling_bench_")
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        w, h = stream.codec_context.width, stream.codec_context.height
    if args.analysis:
        result = {"video": str(video), "source": [w, h], "frames": args.frames,
                  **measure_analysis(video, args.frames, fit_short_side(w, h, 256))}
        print(f"{video.name}: {w}x{h} -> {result['size']}, {args.frames} frames, decode {result['decode_ms_per_frame']} "
              "ms a frame; ms a frame over the decode, PSNR and largest error against the float references")
        print(f"{'path':28s} {'ms':>6s} {'vs sws float':>13s} {'vs cv float':>12s} {'max err':>8s} {'vs rgb24':>9s}")
        for name, r in result["paths"].items():
            print(f"{name:28s} {r['ms_per_frame_over_decode']:6.3f} {r['psnr_vs_swscale_float_db']:10.2f} dB "
                  f"{r['psnr_vs_opencv_float_db']:9.2f} dB {r['max_abs_error_vs_swscale_float']:8.1f} "
                  f"{r['max_abs_diff_vs_packed_rgb24']:9.1f}")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}")
        return
    clip_size, analysis_size = fit_short_side(w, h, 256), fit_short_side(w, h, 192)
    result = {"video": str(video), "source": [w, h], "frames": args.frames, "filters": {}}
    print(f"{video.name}: {w}x{h}, {args.frames} frames; ms per frame of the scaling call, PSNR vs Lanczos")
    print(f"{'filter':14s} {'source->clip yuv':>24s} {'clip->analysis rgb':>24s}")
    for name in FILTERS:
        to_clip = measure(video, args.frames, clip_size, "yuv420p", name)
        to_analysis = measure(video, args.frames, analysis_size, "rgb24", name, via=clip_size)
        result["filters"][name] = {"source_to_clip": to_clip, "clip_to_analysis": to_analysis}
        print(f"{name:14s} {to_clip['ms_per_frame']:8.3f} ms {to_clip['psnr_vs_lanczos_db']:7.2f} dB   "
              f"{to_analysis['ms_per_frame']:8.3f} ms {to_analysis['psnr_vs_lanczos_db']:7.2f} dB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
