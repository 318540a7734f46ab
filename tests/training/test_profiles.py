"""The training profiles: `tiny` (CPU demo), `gpu` (one GPU, bf16-mixed) and `cluster` (DDP ranks from torchrun)."""

from __future__ import annotations

import pytest
from kedro.config import OmegaConfigLoader

from omnihuman_pipeline.settings import CONFIG_LOADER_ARGS
from omnihuman_pipeline.training.config import StageSettings, TrainSettings
from omnihuman_pipeline.training.run import TrainingSetupError, check_launch, resolve_precision
from tests.pipelines.conftest import REPO


def profile_params(env: str) -> dict:
    return OmegaConfigLoader(str(REPO / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": env})["parameters"]


@pytest.mark.parametrize("env", ["base", "tiny", "small", "gpu", "cluster", "wan"])
def test_every_profile_builds_its_settings(env):
    """Every profile's merged parameters make valid settings for all three stages (no unknown keys)."""
    params = profile_params(env)
    settings = TrainSettings.from_params(params["train"])
    stages = [StageSettings.from_params(f"stage{i}", params[f"stage{i}"]) for i in (1, 2, 3)]
    assert [s.conditions for s in stages] == [("text",), ("text", "audio"), ("text", "audio", "pose")]
    assert settings.optimizer.global_batch_size == {"tiny": 2, "small": 4}.get(env, 256)


def test_wan_profile_fine_tunes_the_wan_backbone_with_its_encoders():
    """Stage 1 starts from the Wan folder, predicts Wan's velocity with its flow shift, on Wan's VAE and umT5."""
    params = profile_params("wan")
    settings = TrainSettings.from_params(params["train"])
    assert settings.model.backbone == "wan" and settings.model.backbone_weights == "wan_t2v"
    assert settings.flow.prediction == "velocity" and settings.flow.shift == 3.0
    assert StageSettings.from_params("stage1", params["stage1"]).init == "pretrained"
    assert params["features"]["video"]["backend"] == "wan_vae" and params["features"]["text"]["backend"] == "umt5"


def test_small_profile_is_the_x0_learning_setup():
    """The learning profile predicts x0 with the small preset's sharp spatial RoPE; generation drives held-out speech."""
    params = profile_params("small")
    settings = TrainSettings.from_params(params["train"])
    assert settings.flow.prediction == "x0" and settings.model.preset == "small"
    jobs = params["generate_jobs"]
    assert {j["audio"] for j in jobs} >= {"talking/heldout/speech_0.wav", "talking/heldout/silence.wav"}


def test_gpu_profile_is_bf16_on_one_device():
    settings = TrainSettings.from_params(profile_params("gpu")["train"])
    assert resolve_precision(settings) == "bf16-mixed"
    assert settings.trainer.devices == 1 and settings.model.gradient_checkpointing


def test_cluster_profile_runs_ddp_only_from_a_launcher(monkeypatch):
    """DDP ranks come from torchrun / srun: `kedro run --env=cluster` alone is refused with the command to use."""
    settings = TrainSettings.from_params(profile_params("cluster")["train"])
    assert settings.trainer.strategy == "ddp" and resolve_precision(settings) == "bf16-mixed"
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(TrainingSetupError, match="torchrun --nproc_per_node"):
        check_launch(settings, "kedro")
    monkeypatch.setenv("WORLD_SIZE", "16")
    check_launch(settings, "kedro")  # a rank of a torchrun / SLURM launch
    check_launch(settings, "module")
