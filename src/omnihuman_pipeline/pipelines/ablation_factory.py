"""The one pipeline definition both ablations are made from: a namespace per variant and stage, from parameters.

``ablation_pipeline("ablation_principle1")`` reads the ablation's variants from
``conf/base/parameters_ablation_principle1.yml`` (a variant added there becomes part of the pipeline;
profiles in ``conf/<env>`` change the variants' settings, not the list) and chains, per variant,

    resolve_ablation_stage -> train_omnihuman_stage   (namespace <ablation>.<variant>.<stage>, for each stage)
    evaluate_ablation_variant                          (namespace <ablation>.<variant>, on its last model)

starting from the ablation's ``start`` model (``stage1.model``). The variants are evaluated with the
evaluate pipeline's settings (``params:evaluate``, ``evaluate_test_sets``, ``evaluate_run``) on the same
test sets (one ``select_ablation_test_sets`` node), and one ``report_ablation`` node turns them into the
table, its JSON and the bar plot.
"""

from __future__ import annotations

import os
from functools import partial, update_wrapper
from pathlib import Path
from typing import Any

import yaml
from kedro.pipeline import Node, Pipeline

from omnihuman_pipeline.ablation.variants import variant_labels, variant_stage_names
from omnihuman_pipeline.pipelines.evaluate.nodes import select_test_sets
from omnihuman_pipeline.pipelines.train.nodes import train_omnihuman_stage

SHARED = ("features", "feature_store", "clips")


def resolve_ablation_stage(base_stage: dict[str, Any], ablation: dict[str, Any], *, variant: str,
                           stage: str) -> dict[str, Any]:
    """One stage of one variant as training parameters (see ``ablation.variants.resolve_stage``)."""
    from omnihuman_pipeline.ablation.variants import resolve_stage

    return resolve_stage(base_stage, ablation, variant, stage)


def evaluate_ablation_variant(test_sets: list, model: Any, videos: Any, evaluate: dict[str, Any],
                              evaluate_run: dict[str, Any], generate: dict[str, Any], caption: dict[str, Any], *,
                              label: str) -> Any:
    """A variant's last model on the ablation's test sets, as the evaluate pipeline scores a model."""
    from omnihuman_pipeline.evaluation.run import EvalSettings, evaluate_models

    return evaluate_models({label: model}, test_sets, EvalSettings.from_params(evaluate_run, generate, evaluate),
                           caption, videos.root)


def report_ablation(ablation: dict[str, Any], evaluate_report: dict[str, Any], *, name: str,
                    **variants: Any) -> tuple[dict[str, Any], str, Any]:
    """The ablation's JSON, markdown table (with the paper's rows beside ours) and bar plot.

    Args:
        ablation: the ablation group (variant labels).
        evaluate_report: ``metrics_table`` options (``hide``, ``digits``).
        name: the ablation.
        variants: ``<variant>__eval`` (its ``EvalResult``) and ``<variant>__report`` (its last stage's report).
    """
    from omnihuman_pipeline.ablation.report import (
        ablation_json,
        ablation_table,
        bar_figure,
        merge_variants,
        training_facts,
    )

    labels = variant_labels(ablation)
    merged = merge_variants([variants[f"{v}__eval"] for v in labels])
    training = {v: training_facts(variants[f"{v}__report"]) for v in labels}
    return (ablation_json(name, merged, labels, training), ablation_table(name, merged, labels, **evaluate_report),
            bar_figure(name, merged.metrics, labels, merged.test_set_labels))


def ablation_parameters(name: str, conf_source: str | os.PathLike | None = None) -> dict[str, Any]:
    """The ablation's parameter group as declared in ``conf/base`` (with ``KEDRO_ENV``'s file over it)."""
    root = Path(conf_source) if conf_source else _conf_folder(name)
    group: dict[str, Any] = {}
    for env in ("base", os.environ.get("KEDRO_ENV")):
        path = root / env / f"parameters_{name}.yml" if env else None
        if path is not None and path.is_file():
            group = _merge(group, (yaml.safe_load(path.read_text()) or {}).get(name, {}))
    if not group.get("variants"):
        raise FileNotFoundError(f"{root}/base/parameters_{name}.yml declares no `{name}.variants`; run kedro from "
                                "the project folder")
    return group


def _conf_folder(name: str) -> Path:
    """``conf`` of the project the process runs in: the working folder's or a parent's (a notebook runs in
    ``notebooks/``)."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "conf" / "base" / f"parameters_{name}.yml").is_file():
            return folder / "conf"
    return here / "conf"


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def _bound(func, **kwargs):
    return update_wrapper(partial(func, **kwargs), func)


def ablation_pipeline(name: str, ablation: dict[str, Any] | None = None) -> Pipeline:
    """An ablation: every variant's stages (each from the previous one's model), its evaluation, the report."""
    ablation = ablation or ablation_parameters(name)
    start, base = f"{ablation.get('start', 'stage1')}.model", ablation.get("stage", "stage2")
    parts, results = [], {}
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
            last_report, previous = f"{namespace}.report", f"{namespace}.model"
        parts.append(Pipeline([Node(
            _bound(evaluate_ablation_variant, label=variant_labels(ablation)[variant]),
            [f"{name}.test_sets", previous, f"{name}.{variant}.eval_videos", "params:evaluate",
             "params:evaluate_run", "params:generate", "params:caption"], f"{name}.{variant}.eval",
            name="evaluate_ablation_variant_node", namespace=f"{name}.{variant}")]))
        results[f"{variant}__eval"], results[f"{variant}__report"] = f"{name}.{variant}.eval", last_report
    test_sets = Node(select_test_sets, ["features", "feature_store", "clips", "params:train",
                                        "params:evaluate_test_sets", "eval_test_media"], f"{name}.test_sets",
                     name="select_ablation_test_sets_node", namespace=name)
    table = Node(_bound(report_ablation, name=name), {"ablation": f"params:{name}",
                                                      "evaluate_report": "params:evaluate_report", **results},
                 [f"{name}_report", f"{name}_table", f"{name}_bars"], name="report_ablation_node", namespace=name)
    return sum(parts, Pipeline([test_sets, table]))
