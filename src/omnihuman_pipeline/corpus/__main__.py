"""CLI: ``python -m omnihuman_pipeline.corpus --out data/01_raw --profile tiny [--seed 0]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from omnihuman_pipeline.corpus.generate import GROUND_TRUTH_FILE, PROFILES, generate_corpus


def main(argv: list[str] | None = None) -> int:
    """Generate the corpus and print a one-line summary; exit 1 if a foreign file is in the way."""
    parser = argparse.ArgumentParser(prog="python -m omnihuman_pipeline.corpus", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="corpus root, e.g. data/01_raw")
    parser.add_argument("--profile", choices=PROFILES, default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        truths = generate_corpus(args.out, profile=args.profile, seed=args.seed)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    n_bad = sum(t.expected_status != ["ok"] for t in truths)
    seconds = sum(t.duration_s for t in truths)
    mb = sum(t.size_bytes for t in truths) / 1e6
    print(f"corpus profile={args.profile} seed={args.seed}: {len(truths)} files ({n_bad} not 'ok'), "
          f"{seconds:.1f} s of media, {mb:.1f} MB in {args.out} ({GROUND_TRUTH_FILE}) "
          f"[{time.perf_counter() - start:.1f} s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
