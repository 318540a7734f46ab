"""The Wan memory plan: its parameter counts agree with the networks it describes; the CLI prints the plans."""

from __future__ import annotations

import torch
from diffusers import WanTransformer3DModel

from omnihuman_pipeline.models.__main__ import main
from omnihuman_pipeline.models.memory_plan import Workload, lora_parameters, wan_plans
from omnihuman_pipeline.models.registry import build_model
from omnihuman_pipeline.models.wan import WAN_T2V_CONFIGS, wan_omni_config
from omnihuman_pipeline.training.finetune import apply_lora
from tests.wan_tiny import tiny_wan_transformer_config

TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "ffn.net.0.proj", "ffn.net.2")
OMNI = dict(audio_layers=3, audio_dim=8, audio_hidden=16, pose_channels=2, pose_guider_widths=(4, 4, 4))


def test_backbone_count_is_the_bare_diffusers_model_and_totals_add_up():
    info, plans = wan_plans("1.3B")
    with torch.device("meta"):
        bare = WanTransformer3DModel(**{k: v for k, v in WAN_T2V_CONFIGS["1.3B"].items() if not k.startswith("_")})
    assert info["counts"]["backbone"] == sum(p.numel() for p in bare.parameters())
    assert info["counts"]["total"] == info["counts"]["backbone"] + info["counts"]["added"]
    assert info["tokens"] == 30 * 52 * (21 + 1 + 2)  # 480x832 / 16 per token, 21 window + ref + 2 motion frames
    full, lora = plans
    assert full.trainable == full.parameters and lora.trainable < full.trainable and full.total > lora.total


def test_lora_count_matches_the_adapters_peft_injects():
    config = wan_omni_config(tiny_wan_transformer_config(), **OMNI)
    net = build_model(config)
    before = sum(p.numel() for p in net.parameters())
    apply_lora(net, rank=3, alpha=3, targets=TARGETS)
    assert sum(p.numel() for p in net.parameters()) - before == lora_parameters(config, 3)


def test_fsdp_shards_the_weights_over_the_gpus():
    _, (lora, full) = wan_plans("14B", Workload(frames=81))
    assert lora.gpus == full.gpus == 8
    assert abs(full.weights - 4 * full.parameters / 8 / 1024**3) < 1e-6 and full.ema == 0.0


def test_cli_prints_counts_and_plans(capsys):
    main(["--backbone", "wan", "--size", "1.3B"])
    out = capsys.readouterr().out
    assert "Wan2.1-T2V-1.3B" in out and "1.3B full fine-tuning" in out and "1.3B LoRA r=128" in out
    assert "not measured" in out
