"""benchmarks/generate_speed.py runs end to end on a short job and writes the JSON it promises (not timed)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_generate_speed_writes_ratios_and_pass_counts(tmp_path):
    """A 1 s tiny job, two CFG rounds: seconds per video second, passes per step of each form, both speedups."""
    out = tmp_path / "generate.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks/generate_speed.py"), "--seconds", "1", "--repeat",
                           "1", "--rounds", "2", "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["video"]["frames"] == 25 and result["video"]["wall_s_per_video_s"] > 0
    passes = {name: (p["forward_calls"], p["branch_passes"]) for name, p in result["passes_per_step"].items()}
    assert passes == {"joint": (1, 2), "separate": (1, 3), "joint+speaker_mask": (1, 3), "scale_1": (1, 1)}
    assert {"joint", "separate"} == set(result["batched_speedup"]) and "batched/sequential" in done.stdout
