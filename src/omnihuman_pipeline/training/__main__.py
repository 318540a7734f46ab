"""``python -m omnihuman_pipeline.training --stage <namespace> [--env <profile>]``: one stage, outside ``kedro run``.

The entry ``torchrun`` / SLURM launch once per process for multi-GPU or multi-node training (Kedro's
runner does not spawn DDP processes). It runs the very node of the train pipeline (or an ablation
pipeline) whose namespace is ``--stage``: its inputs are loaded from the Kedro catalog of ``--env``,
and rank 0 saves its outputs through the catalog, so the files are the ones ``kedro run`` writes::

    torchrun --nproc_per_node 8 -m omnihuman_pipeline.training --stage stage2 --env cluster
    srun python -m omnihuman_pipeline.training --stage stage3 --env cluster   # SLURM, one task per GPU
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

LAUNCHER_ENV = "OMNIHUMAN_LAUNCHER"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m omnihuman_pipeline.training", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, help="namespace of the stage node, e.g. stage2")
    parser.add_argument("--env", default="base", help="Kedro environment (profile): base | tiny | gpu | cluster")
    parser.add_argument("--pipeline", default="train", help="pipeline holding the stage (train or an ablation)")
    parser.add_argument("--project", default=".", help="Kedro project folder")
    parser.add_argument("--params", default=None, help="runtime parameters, as kedro run --params (a.b=1,c=2)")
    return parser.parse_args(argv)


def runtime_params(text: str | None) -> dict:
    """``a.b=1,c=x`` -> ``{"a": {"b": 1}, "c": "x"}``: nested as ``kedro run --params`` nests them (a flat dotted
    key would be merged as a new top-level parameter that no node reads)."""
    if not text:
        return {}
    import yaml

    out: dict = {}
    for item in text.split(","):
        if "=" not in item:
            raise SystemExit(f"error: --params {item!r} is not key=value (a.b=1,c=2)")
        key, value = item.split("=", 1)
        *parents, leaf = key.strip().split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SystemExit(f"error: --params sets {key.strip()!r} below a value")
        node[leaf] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    os.environ[LAUNCHER_ENV] = "module"
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    project = Path(args.project).resolve()
    bootstrap_project(project)
    from omnihuman_pipeline.cli import check_run_args

    problem = check_run_args(args.env, [args.pipeline], project / "conf")
    if problem:
        raise SystemExit(problem)
    # the stage name is checked before the session loads anything
    stages = sorted({n.namespace for n in pipelines[args.pipeline].nodes
                     if n.namespace and n.name.rsplit(".", 1)[-1].startswith("train_")})
    if args.stage not in stages:
        raise SystemExit(f"error: unknown --stage {args.stage!r} in pipeline {args.pipeline}; stages: {', '.join(stages)}")
    with KedroSession.create(project_path=project, env=args.env, runtime_params=runtime_params(args.params)) as session:
        catalog = session.load_context().catalog
        nodes = pipelines[args.pipeline].only_nodes_with_namespaces([args.stage]).nodes
        if len(nodes) != 1:
            raise SystemExit(f"error: --stage {args.stage}: expected one node, found {len(nodes)}; stages: {stages}")
        node = nodes[0]
        outputs = node.func(*[catalog.load(name) for name in node.inputs])
        if int(os.environ.get("RANK", 0)) == 0 and outputs[0] is not None:
            for name, value in zip(node.outputs, outputs, strict=True):
                catalog.save(name, value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
