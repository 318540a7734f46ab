"""The module entry (what torchrun / SLURM launch): a SIGKILLed stage resumes exactly; two DDP ranks stay in sync."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from tests.training.project import entry_command, kedro_env, logged, run_entry, synthetic_project

EXACT = {"trainer": {"log_every_n_steps": 1, "checkpoint_every_n_steps": 5, "deterministic": True,
                     "val_every_n_steps": 0, "accelerator": "cpu"}}
STEPS = 150


@pytest.mark.slow
def test_a_killed_stage_resumes_to_the_uninterrupted_loss_curve(tmp_path):
    """SIGKILL after a checkpoint, rerun: every loss from the resume point on equals an uninterrupted run's (1e-6)."""
    stages = {"stage1": {"max_steps": STEPS}}
    whole = synthetic_project(tmp_path / "whole", train=EXACT, stages=stages)
    run_entry("stage1", whole)
    killed = synthetic_project(tmp_path / "killed", train=EXACT, stages=stages)
    last = killed / "data/06_models/stage1/last.ckpt"
    proc = subprocess.Popen(entry_command("stage1", killed), cwd=killed, env=kedro_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the stage finished before it could be killed"
    resumed_from = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert 0 < resumed_from < STEPS
    run_entry("stage1", killed)
    report = json.loads((killed / "data/06_models/stage1/report.json").read_text())
    assert report["resumed"] and report["steps"] == STEPS
    a, b = logged(whole, "stage1"), logged(killed, "stage1")
    after = [s for s in range(resumed_from, STEPS)]
    assert all(abs(a[s] - b[s]) <= 1e-6 for s in after), [(s, a[s], b[s]) for s in after if abs(a[s] - b[s]) > 1e-6][:5]
    wa = load_file(str(whole / "data/06_models/stage1/model.safetensors"))
    wb = load_file(str(killed / "data/06_models/stage1/model.safetensors"))
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)


def test_runtime_params_nest_as_kedro_run_nests_them():
    """A dotted --params key reaches the nested setting (a flat key would be a new top-level parameter nobody reads)."""
    from omnihuman_pipeline.training.__main__ import runtime_params

    assert runtime_params("train.flow.mouth_weight=10,train.flow.loss_space=x0,stage2.max_steps=5") == {
        "train": {"flow": {"mouth_weight": 10, "loss_space": "x0"}}, "stage2": {"max_steps": 5}}
    assert runtime_params(None) == {}
    with pytest.raises(SystemExit, match="not key=value"):
        runtime_params("train.flow.mouth_weight")


def test_params_given_to_the_module_entry_reach_the_stage(tmp_path):
    """``--params`` changes what the stage trains: the steps and the flow settings its model card records."""
    project = synthetic_project(tmp_path / "p", stages={"stage1": {"max_steps": 3}})
    command = entry_command("stage1", project) + ["--params", "stage1.max_steps=2,train.flow.loss_space=x0"]
    proc = subprocess.run(command, cwd=project, env=kedro_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((project / "data/06_models/stage1/report.json").read_text())
    card = json.loads((project / "data/06_models/stage1/model.json").read_text())
    assert report["steps"] == 2 and card["flow"]["loss_space"] == "x0"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_ddp_ranks_read_disjoint_shards_and_keep_identical_weights(tmp_path):
    """torchrun with 2 CPU processes (gloo): each rank reads its own shards; their weights agree at the end."""
    ddp = {"trainer": {"accelerator": "cpu", "devices": 2, "strategy": "ddp", "val_every_n_steps": 0},
           "optimizer": {"global_batch_size": 4}}
    project = synthetic_project(tmp_path / "ddp", train=ddp, stages={"stage1": {"max_steps": 4}})
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
           "-m", *entry_command("stage1", project)[2:]]
    proc = subprocess.run(cmd, cwd=project, env=kedro_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((project / "data/06_models/stage1/report.json").read_text())
    shards = [set(r["train_shards"]) for r in report["ranks"]]
    assert report["world_size"] == 2 and len(shards) == 2 and all(shards) and not shards[0] & shards[1]
    assert report["weights_in_sync"] and report["accumulate"] == 1
    assert sum(report["samples_seen"].values()) == 4 * 4  # 4 steps x 2 ranks x micro-batch 2
