"""Ablation variants resolve from parameters and differ only in what their ablation changes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from omnihuman_pipeline.ablation.variants import (
    AblationConfigError,
    config_difference,
    resolve_stage,
    resolve_variant,
    variant_labels,
)
from omnihuman_pipeline.pipelines.ablation_factory import ablation_parameters, ablation_pipeline
from omnihuman_pipeline.training.config import StageSettings

REPO = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((REPO / "conf/base/parameters_train.yml").read_text())


def _ablation(n: int) -> dict:
    return ablation_parameters(f"ablation_principle{n}", REPO / "conf")


def test_principle1_variants_differ_only_in_the_t_only_fraction():
    """Resolved 0 % and 100 % T-data stages differ in t_only_fraction and nothing else (same budget, start, seeds)."""
    ablation = _ablation(1)
    t0, t100 = (resolve_stage(BASE["stage2"], ablation, v, "s1") for v in ("t0", "t100"))
    assert config_difference(t0, t100) == {"t_only_fraction": (0.0, 1.0)}
    assert t0["max_steps"] == ablation["budget_steps"] and t0["conditions"] == ["text", "audio"]
    StageSettings.from_params("t0", t0)  # the training stage accepts it


def test_principle2_orders_differ_only_in_the_pose_ratio_and_ipa_trains_pose_first():
    """IAP A<P vs A>P: only the second stage's pose ratio differs; IPA's first stage trains pose without audio."""
    ablation = _ablation(2)
    lt, gt = (resolve_variant(BASE["stage2"], ablation, v) for v in ("IAP_A_lt_P", "IAP_A_gt_P"))
    assert config_difference(lt, gt) == {"s2.ratios.pose": (0.75, 0.25)}
    ipa = resolve_variant(BASE["stage2"], ablation, "IPA")
    assert ipa["s1"]["conditions"] == ["text", "pose"] and "audio" in ipa["s2"]["conditions"]
    budgets = {v: sum(s["max_steps"] for s in resolve_variant(BASE["stage2"], ablation, v).values())
               for v in ablation["variants"]}
    assert len(set(budgets.values())) == 1  # every variant gets the same step budget
    assert list(variant_labels(ablation).values()) == ["IA", "IPA", "IAP, A<P", "IAP, A>P"]


def test_a_variant_added_to_the_parameters_becomes_part_of_the_pipeline():
    """A new variant key gets its own namespaces; stage 2 of a variant starts from its stage 1."""
    ablation = _ablation(2)
    ablation["variants"]["IP"] = {"label": "IP", "stages": {"s1": {"conditions": ["text", "pose"]}}}
    nodes = {n.namespace: n for n in ablation_pipeline("ablation_principle2", ablation).nodes
             if n.name.endswith("train_omnihuman_stage_node")}
    assert "ablation_principle2.IP.s1" in nodes and "stage1.model" in nodes["ablation_principle2.IP.s1"].inputs
    assert "ablation_principle2.IPA.s1.model" in nodes["ablation_principle2.IPA.s2"].inputs


def test_bad_variants_are_clear_errors():
    """Shares that do not add up and unknown keys name the variant."""
    ablation = {"budget_steps": 10, "variants": {"v": {"stages": {"s1": {"share": 0.5}, "s2": {"share": 0.2}}}}}
    with pytest.raises(AblationConfigError, match="do not add up"):
        resolve_stage(BASE["stage2"], ablation, "v", "s1")
    with pytest.raises(AblationConfigError, match="unknown keys"):
        resolve_stage(BASE["stage2"], {"budget_steps": 10, "variants": {"v": {"stages": {"s1": {"lr": 1}}}}}, "v", "s1")


def test_variants_are_found_from_a_subfolder_of_the_project(monkeypatch):
    """A notebook runs in notebooks/: the registry still finds the project's conf (a parent folder's)."""
    monkeypatch.chdir(REPO / "notebooks")
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    assert ablation_parameters("ablation_principle2") == ablation_parameters("ablation_principle2", REPO / "conf")
