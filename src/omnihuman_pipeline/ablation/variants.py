"""Variants of an ablation as training stages, resolved from ``parameters_ablation_principle{1,2}.yml``.

An ablation names the model folder every variant starts from (``start``, e.g. ``stage1``), the step
budget every variant gets (``budget_steps``), the stage group its stages default to (``stage``, e.g.
``stage2``) and its variants. A variant is a label and one or more stages, each a set of overrides of
that stage group (``conditions``, ``ratios``, ``t_only_fraction``, …) plus its ``share`` of the budget::

    ablation_principle1:
      start: stage1
      stage: stage2
      budget_steps: 20000
      variants:
        t25: {label: 25% T-Data, stages: {s1: {t_only_fraction: 0.25}}}

Everything else (seeds, data, optimizer, the shared ratios) comes from ``params:train``, so two variants
differ exactly in what their overrides say (:func:`config_difference` shows it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STAGE_KEYS = ("conditions", "ratios", "t_only_fraction", "share")


class AblationConfigError(ValueError):
    """An ablation's variants are not well formed."""


def variant_stage_names(ablation: Mapping[str, Any], variant: str) -> list[str]:
    """The stage keys of a variant, in order (``s1``, ``s2``, …)."""
    stages = ablation["variants"][variant].get("stages") or {"s1": {}}
    return list(stages)


def resolve_stage(base_stage: Mapping[str, Any], ablation: Mapping[str, Any], variant: str,
                  stage: str) -> dict[str, Any]:
    """The stage parameters of one stage of a variant (what ``train_stage`` receives as ``params:stage``).

    Args:
        base_stage: the stage group the ablation's stages start from (``params:<ablation.stage>``).
        ablation: the ablation group (``params:ablation_principle1``).
        variant: the variant key.
        stage: the stage key within the variant (``s1`` …).

    Returns:
        ``base_stage`` with the stage's overrides, ``max_steps = round(budget_steps * share)``, ``init``
        ``previous`` and ``index`` = the base stage's index + the stage's position in the variant.
    """
    variants = ablation.get("variants") or {}
    if variant not in variants:
        raise AblationConfigError(f"unknown variant {variant!r}; variants: {sorted(variants)}")
    stages = variants[variant].get("stages") or {"s1": {}}
    if stage not in stages:
        raise AblationConfigError(f"variant {variant!r} has no stage {stage!r}; stages: {list(stages)}")
    overrides = dict(stages[stage] or {})
    unknown = set(overrides) - set(STAGE_KEYS)
    if unknown:
        raise AblationConfigError(f"{variant}.{stage}: unknown keys {sorted(unknown)}; known: {list(STAGE_KEYS)}")
    shares = [float((s or {}).get("share", 1.0 / len(stages))) for s in stages.values()]
    if abs(sum(shares) - 1.0) > 1e-6:
        raise AblationConfigError(f"variant {variant!r}: stage shares {shares} do not add up to 1")
    share = float(overrides.pop("share", 1.0 / len(stages)))
    position = list(stages).index(stage)
    resolved = {k: v for k, v in dict(base_stage).items() if k not in ("max_steps",)}
    resolved.update(overrides)
    resolved["max_steps"] = max(1, round(int(ablation["budget_steps"]) * share))
    resolved["index"] = int(base_stage.get("index", 2)) + position
    resolved["init"] = "previous"
    return resolved


def resolve_variant(base_stage: Mapping[str, Any], ablation: Mapping[str, Any], variant: str) -> dict[str, Any]:
    """Every stage of a variant: ``{stage key: stage parameters}``."""
    return {s: resolve_stage(base_stage, ablation, variant, s) for s in variant_stage_names(ablation, variant)}


def config_difference(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between two nested mappings: ``{key: (a's, b's)}``."""
    out: dict[str, tuple[Any, Any]] = {}
    for key in sorted(set(a) | set(b), key=str):
        x, y, name = a.get(key), b.get(key), f"{prefix}{key}"
        if isinstance(x, Mapping) and isinstance(y, Mapping):
            out.update(config_difference(x, y, f"{name}."))
        elif x != y:
            out[name] = (x, y)
    return out


def variant_labels(ablation: Mapping[str, Any]) -> dict[str, str]:
    """Variant key -> its table label, in the order of the parameters file."""
    return {k: str((v or {}).get("label", k)) for k, v in (ablation.get("variants") or {}).items()}
