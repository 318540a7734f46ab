"""Checks a run passes before Kedro starts its nodes: misspelled runtime parameters, inputs not written yet.

Runtime parameters (``kedro run --params``, ``python -m omnihuman_pipeline.training --params``): a key that the
profile's parameter files do not define is a typo far more often than a wish; Kedro would add it to the
parameters, every node would ignore it and the run would go on with the default. Each unknown dotted key is one
error naming it and the closest defined keys. Beneath a key whose value is an open mapping (``overrides: {}``,
``weights: {}``, metric ``options``, ``backends``) any key is allowed, and rule sets name clip columns, which
``scoring.eligibility.assign_eligibility`` checks against the clip table. (``dvc exp run -S`` writes the
parameter files themselves; the settings classes refuse unknown keys there.)

Missing inputs: a pipeline whose stored inputs are not there (``train`` before ``features``) stops with one line
naming each and the pipeline that writes it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from kedro.framework.hooks import hook_impl

LIFECYCLE = ("curate", "features", "train", "generate", "evaluate", "ablation_principle1", "ablation_principle2")
OPEN_KEYS = ("overrides", "options", "weights", "backends", "storage_options", "credentials")
RULE_PREFIX = "eligibility.rules."


class UnknownParameterError(KeyError):
    """A runtime parameter names no defined parameter."""

    def __str__(self) -> str:  # KeyError quotes its argument; the message is a sentence
        return str(self.args[0])


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (dotted keys as given are kept)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _open(defined: dict[str, Any], key: str) -> bool:
    parts = key.split(".")
    for i in range(1, len(parts)):
        head = ".".join(parts[:i])
        if parts[i - 1] in OPEN_KEYS or (head in defined and isinstance(defined[head], Mapping)):
            return True
    return key.startswith(RULE_PREFIX) and key.count(".") >= 4


def unknown_keys(runtime: Mapping[str, Any], defined_params: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """The runtime keys that name no defined parameter, each with up to three closest defined keys."""
    defined = flatten(defined_params)
    prefixes = {".".join(k.split(".")[:i]) for k in defined for i in range(1, k.count(".") + 2)}
    out = []
    for key in flatten(runtime):
        if key in defined or key in prefixes or _open(defined, key):
            continue
        out.append((key, difflib.get_close_matches(key, sorted(prefixes), n=3, cutoff=0.5)))
    return out


def check_runtime_params(runtime: Mapping[str, Any] | None, defined_params: Mapping[str, Any]) -> None:
    """Raise one :class:`UnknownParameterError` naming every unknown runtime key and its closest defined keys."""
    bad = unknown_keys(runtime or {}, defined_params)
    if bad:
        detail = "; ".join(f"{k} (closest: {', '.join(c) or 'none'})" for k, c in bad)
        raise UnknownParameterError(f"unknown parameter{'s' if len(bad) > 1 else ''}: {detail}. Check the spelling "
                                    "against conf/base/parameters_*.yml")


class ParameterCheckHook:
    """Kedro hook: refuse a run whose ``--params`` name a parameter the profile does not define."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        runtime = getattr(context, "_runtime_params", None)
        if not runtime:
            return
        from kedro.config import OmegaConfigLoader

        from omnihuman_pipeline.settings import CONFIG_LOADER_ARGS

        loader = OmegaConfigLoader(str(context.project_path / "conf"), env=context.env, **CONFIG_LOADER_ARGS)
        try:
            check_runtime_params(runtime, loader["parameters"])
        except UnknownParameterError as err:
            raise SystemExit(f"error: {err}") from None  # one line and exit status 1, not a traceback


def _where(dataset: Any) -> str:
    try:
        described = dataset._describe()  # every Kedro dataset's own summary, with its filepath
    except Exception:  # noqa: BLE001 - only used for the message
        described = {}
    return str(described.get("filepath") or described.get("path") or getattr(dataset, "_filepath", "") or "?")


class MissingInputsHook:
    """Kedro hook: a run whose stored inputs are missing stops with one line naming the pipeline that writes them
    (``kedro run --pipeline=train`` before ``features`` used to end in a ``DatasetError`` traceback)."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        from kedro.io import MemoryDataset

        missing = []
        for name in sorted(pipeline.inputs()):
            if name.startswith("params:") or name == "parameters" or name not in catalog:
                continue
            dataset = catalog.get(name)
            if isinstance(dataset, MemoryDataset) or getattr(dataset, "may_be_absent", False):
                continue
            try:
                present = catalog.exists(name)
            except Exception:  # noqa: BLE001 - a dataset that cannot tell is left to Kedro
                continue
            if not present:
                missing.append(name)
        if not missing:
            return
        import importlib

        writers, readers = {}, {}
        for pipe_name in LIFECYCLE:  # a run registers only its own pipelines: build the others here
            pipe = importlib.import_module(f"omnihuman_pipeline.pipelines.{pipe_name}.pipeline").create_pipeline()
            for name in missing:
                if name in pipe.all_outputs():
                    writers.setdefault(name, pipe_name)
                elif name in pipe.inputs():  # a store a pipeline fills in place (the feature shards)
                    readers.setdefault(name, pipe_name)
        writers = {**readers, **writers}
        detail = "; ".join(
            f"{n} ({_where(catalog.get(n))})"
            + (f": run `kedro run --pipeline={writers[n]}` first" if n in writers else ": put it in place") for n in missing)
        raise SystemExit(f"error: this run reads what is not there yet: {detail}")
