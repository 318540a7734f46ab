"""Run one generation job in this process and print its peak RSS (MB): ``python peak_rss_job.py MODEL REF WAV OUT``."""

from __future__ import annotations

import json
import resource
import sys

import torch


def main(model: str, ref: str, wav: str, out: str) -> None:
    from omnihuman_pipeline.inference import GenerateSettings, GenerationJob, Guidance, generate_video

    torch.set_num_threads(1)
    settings = GenerateSettings(steps=1, cfg=Guidance(scale=1.0), progress=False, preset="ultrafast")
    row = generate_video(GenerationJob("long", ref, out, model, audio=wav, text="a person talking"), settings)
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "frames": row["frames"], "segments": row["segments"]}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
