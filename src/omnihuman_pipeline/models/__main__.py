"""``python -m omnihuman_pipeline.models``: parameter counts of the native presets, or of a Wan2.1 backbone with
OmniHuman's conditions and its per-GPU memory plan (``--backbone wan --size 1.3B|14B``)."""

from __future__ import annotations

import argparse

from .mmdit import parameter_counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m omnihuman_pipeline.models", description=__doc__)
    parser.add_argument("--backbone", choices=("native", "wan"), default="native")
    parser.add_argument("--size", default="1.3B", help="Wan2.1 size: 1.3B or 14B")
    parser.add_argument("--lora-rank", type=int, default=128, help="rank of the LoRA plans")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--frames", type=int, default=81, help="pixel frames per training window (1 + 4k)")
    args = parser.parse_args(argv)
    if args.backbone == "native":
        for name, n in parameter_counts().items():
            print(f"{name:>6}: {n:>15,d} parameters ({n / 1e6:,.2f} M)")
        return
    from .memory_plan import Workload, format_wan_plans

    try:
        print(format_wan_plans(args.size, Workload(args.height, args.width, args.frames), args.lora_rank))
    except KeyError as err:
        parser.error(str(err.args[0]))


if __name__ == "__main__":
    main()
