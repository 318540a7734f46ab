"""Three stages on a tiny random Wan2.1 backbone: pretrained start, LoRA, merged export, FSDP strategy."""

from __future__ import annotations

import json

import pytest
import torch

from omnihuman_pipeline.datasets.model_folder import ModelFolderDataset, RunFolder
from omnihuman_pipeline.features.synthetic import make_cache
from omnihuman_pipeline.models import load_model_folder
from omnihuman_pipeline.models.registry import build_model
from omnihuman_pipeline.models.wan import wan_omni_config
from omnihuman_pipeline.training.finetune import apply_lora, build_strategy, merged_state_dict
from omnihuman_pipeline.training.run import TrainingSetupError, train_stage
from tests.training.project import SPECS
from tests.wan_tiny import save_tiny_wan_transformer, tiny_wan_transformer_config

WAN_TRAIN = {"model": {"preset": "tiny", "backbone": "wan", "lora_rank": 4},
             "data": {"window_latent_frames": 4, "batch_size": 2, "num_workers": 0, "val_fraction": 0.3},
             "optimizer": {"lr": 2e-3, "warmup_steps": 1, "global_batch_size": 2}, "flow": {"shift": 3.0},
             "ema": {"decay": 0.0}, "trainer": {"accelerator": "cpu", "val_every_n_steps": 0,
                                                "checkpoint_every_n_steps": 2, "progress_bar": False}}
WAN_STAGES = {"stage1": {"index": 1, "conditions": ["text"], "init": "pretrained", "max_steps": 2},
              "stage2": {"index": 2, "conditions": ["text", "audio"], "init": "previous", "max_steps": 2},
              "stage3": {"index": 3, "conditions": ["text", "audio", "pose"], "init": "previous", "max_steps": 2}}
OMNI = dict(audio_layers=3, audio_dim=8, audio_hidden=16, pose_channels=2, pose_guider_widths=(4, 4, 4))


@pytest.fixture(scope="module")
def wan_run(tmp_path_factory):
    """The three stages with LoRA on the 7-clip synthetic cache (4 latent channels, text width 16)."""
    tmp = tmp_path_factory.mktemp("wan_run")
    folder = save_tiny_wan_transformer(tmp / "Wan2.1-T2V-tiny" / "transformer")
    cache = make_cache(tmp / "features", SPECS, clips_per_shard=1, marked=False)
    mp = pytest.MonkeyPatch()
    mp.setenv("OMNIHUMAN_WEIGHTS_WAN_T2V", str(folder))
    out, init = {}, None
    try:
        for name, stage in WAN_STAGES.items():
            run = RunFolder(tmp / "models" / name, tmp / "logs" / name)
            run.path.mkdir(parents=True, exist_ok=True)
            outcome = train_stage(*cache, run, init, WAN_TRAIN, stage, name=name, features={"video": {}})
            ModelFolderDataset(filepath=str(run.path)).save(outcome.model)
            out[name] = (outcome.report, run)
            init = ModelFolderDataset(filepath=str(run.path)).load()
    finally:
        mp.undo()
    return folder, cache, out


def test_stage1_starts_from_the_diffusers_folder_and_stages_hand_off(wan_run):
    folder, _, out = wan_run
    h1, h2, h3 = (json.loads((out[s][1].path / "handoff.json").read_text()) for s in WAN_STAGES)
    assert h1["source"] == str(folder) and h1["kind"] == "wan text-to-video backbone" and not h1["skipped"]
    assert all(k.startswith("backbone.") for k in h1["loaded"])
    assert h2["loaded"] and not h2["skipped"]
    assert all(k.startswith("audio_") for k in h2["newly_initialized"])
    assert h3["expanded"] == ["backbone.patch_embedding.weight"]
    for name in WAN_STAGES:
        report = out[name][0]
        assert report["model"]["backbone"] == "wan" and report["model"]["lora"]["rank"] == 4
        assert report["model"]["trainable"] < report["model"]["parameters"]


def test_exported_weights_are_merged_and_load_for_generation(wan_run):
    """model.safetensors has no adapter keys; the folder loads strictly into the Wan wrapper."""
    _, _, out = wan_run
    model, card = load_model_folder(out["stage3"][1].path)
    assert type(model).__name__ == "WanOmniTransformer" and card.config.backbone == "wan"
    assert card.training["weights"] == "merged LoRA" and card.flow["prediction"] == "velocity"
    assert not any("lora" in k for k in model.state_dict())


def test_lora_trains_only_adapters_and_new_modules_and_its_merge_reproduces_it():
    torch.manual_seed(0)
    config = wan_omni_config(tiny_wan_transformer_config(), **OMNI)
    net = build_model(config)
    info = apply_lora(net, rank=2, alpha=4, targets=("to_q", "to_k", "to_v", "to_out.0", "ffn.net.0.proj", "ffn.net.2"))
    assert info["adapted_modules"] == 2 * (2 * 4 + 2)  # 2 blocks x (self + cross attention: 4 each, FFN 2)
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert all(".lora_" in n or not n.startswith("backbone.") or n.startswith("backbone.patch_embedding")
               for n in trainable)
    assert any(n.startswith("audio_attn") for n in trainable) and any(n.startswith("pose_guider") for n in trainable)
    with torch.no_grad():  # a trained adapter: B non-zero
        for n, p in net.named_parameters():
            if "lora_B" in n:
                p.copy_(0.1 * torch.randn_like(p))
    x = {"noisy_latents": torch.randn(2, 4, 3, 4, 4), "timestep": torch.rand(2), "text_emb": torch.randn(2, 5, 16),
         "audio_feats": torch.randn(2, 9, 3, 8)}
    net.train()
    net(**x).square().mean().backward()
    has_grad = {n for n, p in net.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert has_grad <= trainable and any("lora_A" in n for n in has_grad)
    reloaded = build_model(config).eval()
    reloaded.load_state_dict(merged_state_dict(net), strict=True)
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**x), net(**x), atol=1e-5, rtol=1e-5)


def test_fsdp_strategy_shards_and_checkpoints_wan_blocks():
    config = wan_omni_config(tiny_wan_transformer_config(), **OMNI)
    net = build_model(config)
    strategy = build_strategy("fsdp", net, activation_checkpointing=True)
    from diffusers.models.transformers.transformer_wan import WanTransformerBlock
    assert type(strategy).__name__ == "FSDPStrategy" and strategy.sharding_strategy.name == "FULL_SHARD"
    assert strategy.kwargs["auto_wrap_policy"]._module_classes == {WanTransformerBlock}
    assert strategy._activation_checkpointing_kwargs["auto_wrap_policy"]._module_classes == {WanTransformerBlock}
    assert strategy.kwargs["use_orig_params"]  # frozen backbone weights and trained adapters in one flat unit
    assert build_strategy("ddp", net, True) == "ddp"


def test_missing_backbone_folder_names_the_key_and_where_it_is_published(tmp_path, monkeypatch):
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_FILE", str(tmp_path / "none.yml"))
    monkeypatch.delenv("OMNIHUMAN_WEIGHTS_WAN_T2V", raising=False)
    cache = make_cache(tmp_path / "features", SPECS[:3], clips_per_shard=1, marked=False)
    run = RunFolder(tmp_path / "m", tmp_path / "l")
    run.path.mkdir(parents=True)
    with pytest.raises(TrainingSetupError, match="wan_t2v.*Wan2.1-T2V"):
        train_stage(*cache, run, None, WAN_TRAIN, WAN_STAGES["stage1"], name="stage1")


def test_features_of_another_width_are_refused(tmp_path, monkeypatch):
    folder = save_tiny_wan_transformer(tmp_path / "transformer", text_dim=32)
    monkeypatch.setenv("OMNIHUMAN_WEIGHTS_WAN_T2V", str(folder))
    cache = make_cache(tmp_path / "features", SPECS[:3], clips_per_shard=1, marked=False)
    run = RunFolder(tmp_path / "m", tmp_path / "l")
    run.path.mkdir(parents=True)
    with pytest.raises(TrainingSetupError, match="text width is 16 but the Wan backbone's text_dim is 32"):
        train_stage(*cache, run, None, WAN_TRAIN, WAN_STAGES["stage1"], name="stage1")
