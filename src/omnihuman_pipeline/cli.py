"""Project CLI: ``kedro run`` with its two first-day mistakes caught before Kedro starts.

An unknown ``--env`` and a misspelled ``--pipeline``/``--pipelines`` name each get one line listing the valid
choices (Kedro itself answers with a long traceback ending in ``MissingConfigException`` or an ``ImportError``
that reads like a broken install). Everything else is Kedro's own ``run`` command, unchanged.
"""

from __future__ import annotations

import difflib
import functools
from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run

PIPELINES_DIR = Path(__file__).parent / "pipelines"
BUILT_IN = ("__default__",)


def profiles(conf_source: Path) -> list[str]:
    """The environments (profile folders) of a conf folder."""
    return sorted(p.name for p in conf_source.iterdir() if p.is_dir()) if conf_source.is_dir() else []


def pipeline_names() -> list[str]:
    """The registered pipelines: one per ``pipelines/<name>/pipeline.py``, plus ``__default__``."""
    return sorted([p.parent.name for p in PIPELINES_DIR.glob("*/pipeline.py")] + list(BUILT_IN))


def check_run_args(env: str | None, pipelines: list[str], conf_source: Path) -> str | None:
    """The one-line error for an unknown environment or pipeline name, or None."""
    if env and env not in profiles(conf_source):
        return (f"error: unknown --env {env!r}; profiles in {conf_source}: {', '.join(profiles(conf_source))}")
    known = pipeline_names()
    for name in pipelines:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            return f"error: unknown pipeline {name!r}{hint}; pipelines: {', '.join(known)}"
    return None


def _checked(callback: Any) -> Any:
    @functools.wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        names = [kwargs["pipeline"]] if kwargs.get("pipeline") else list(kwargs.get("pipelines") or [])
        conf = Path(kwargs.get("conf_source") or Path.cwd() / "conf")
        problem = check_run_args(kwargs.get("env"), names, conf)
        if problem:
            raise SystemExit(problem)
        return callback(*args, **kwargs)

    return wrapper


@click.group(name="omnihuman_pipeline")
def cli() -> None:
    """Project commands (``kedro run`` with argument checks)."""


cli.add_command(click.Command(name="run", callback=_checked(kedro_run.callback), params=kedro_run.params,
                              help=kedro_run.help, short_help=kedro_run.short_help,
                              context_settings=kedro_run.context_settings))
