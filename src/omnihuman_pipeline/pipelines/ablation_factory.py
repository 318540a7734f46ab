"""The one pipeline definition both ablations are made from: a namespace per variant and stage, from parameters.

``ablation_pipeline("ablation_principle1")`` reads the ablation's variants from
``conf/base/parameters_ablation_principle1.yml`` (a variant added there becomes part of the pipeline;
profiles in ``conf/<env>`` change the variants' settings, not the list) and chains, per variant,

    resolve_ablation_stage -> train_omnihuman_stage   (namespace <ablation>.<variant>.<stage>, for each stage)

starting from the ablation's ``start`` model (``stage1.model``); the variants' reports then feed one
table node.
"""

from __future__ import annotations

import os
from functools import partial, update_wrapper
from pathlib import Path
from typing import Any

import yaml
from kedro.pipeline import Node, Pipeline

from omnihuman_pipeline.ablation.variants import variant_stage_names
from omnihuman_pipeline.pipelines.train.nodes import train_omnihuman_stage

SHARED = ("features", "feature_store", "clips")


def resolve_ablation_stage(base_stage: dict[str, Any], ablation: dict[str, Any], *, variant: str,
                           stage: str) -> dict[str, Any]:
    """One stage of one variant as training parameters (see ``ablation.variants.resolve_stage``)."""
    from omnihuman_pipeline.ablation.variants import resolve_stage

    return resolve_stage(base_stage, ablation, variant, stage)


def ablation_parameters(name: str, conf_source: str | os.PathLike | None = None) -> dict[str, Any]:
    """The ablation's parameter group as declared in ``conf/base`` (with ``KEDRO_ENV``'s file over it)."""
    root = Path(conf_source) if conf_source else Path.cwd() / "conf"
    group: dict[str, Any] = {}
    for env in ("base", os.environ.get("KEDRO_ENV")):
        path = root / env / f"parameters_{name}.yml" if env else None
        if path is not None and path.is_file():
            group = _merge(group, (yaml.safe_load(path.read_text()) or {}).get(name, {}))
    if not group.get("variants"):
        raise FileNotFoundError(f"{root}/base/parameters_{name}.yml declares no `{name}.variants`; run kedro from "
                                "the project folder")
    return group


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def _bound(func, **kwargs):
    return update_wrapper(partial(func, **kwargs), func)


def ablation_pipeline(name: str, ablation: dict[str, Any] | None = None) -> Pipeline:
    """The training part of an ablation: every variant's stages, each from the previous one's model."""
    ablation = ablation or ablation_parameters(name)
    start, base = f"{ablation.get('start', 'stage1')}.model", ablation.get("stage", "stage2")
    parts = []
    for variant in ablation["variants"]:
        previous = start
        for stage in variant_stage_names(ablation, variant):
            namespace = f"{name}.{variant}.{stage}"
            nodes = [
                Node(_bound(resolve_ablation_stage, variant=variant, stage=stage), ["params:base_stage",
                     "params:ablation"], "stage_params", name="resolve_ablation_stage_node"),
                Node(train_omnihuman_stage, ["features", "feature_store", "clips", "run", "init_model", "params:train",
                                             "stage_params", "params:features"], ["model", "report"],
                     name="train_omnihuman_stage_node"),
            ]
            parts.append(Pipeline(nodes, namespace=namespace,
                                  inputs={**{s: s for s in SHARED}, "init_model": previous},
                                  parameters={"params:train": "params:train", "params:features": "params:features",
                                              "params:base_stage": f"params:{base}",
                                              "params:ablation": f"params:{name}"}))
            previous = f"{namespace}.model"
    return sum(parts, Pipeline([]))
