"""Eligibility for the three training conditions (paper §3.3, §4.1) as declarative rules.

A rule set maps a column to bounds, e.g. ``{"motion": {"min": 0.3, "max": 12}}``. A clip fails
a rule when its value is outside the bounds (reason ``motion<0.3`` / ``motion>12``,
``|sync_offset|>3`` for ``abs_max``, ``face_dominant!=True`` for ``equals``) or missing (reason
``motion:<error>`` with the scorer's error, else ``motion:missing``). A rule may name its own
reason (``{"has_audio": {"equals": true, "reason": "no_audio"}}``). A clip is eligible when it
fails nothing; every failed rule is listed, so rejections are explained, never silent.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the scorers' `when` gates use `rule_reasons` in workers, without pandas
    import pandas as pd

Rules = Mapping[str, Mapping[str, Any]]


def _fmt(value: float) -> str:
    return f"{value:g}"


def _missing_cause(row: Mapping[str, Any], column: str) -> tuple[str, str]:
    """(name, error) for a missing value: the column's own `<column>_error`, else its scorer's
    (`sync_offset` → `sync_error`), else "missing"."""
    signal = column.split("_", 1)[0]
    for name in (column, signal):
        error = row.get(f"{name}_error")
        if isinstance(error, str) and error:
            return name, error
    return column, "missing"


def rule_reasons(row: Mapping[str, Any], rules: Rules) -> list[str]:
    """Every rule the row fails, in rule order.

    Args:
        row: one clip's columns.
        rules: `{column: {"min": x, "max": y, "abs_max": z, "equals": v, "reason": name}}`; any subset.

    Returns:
        Reasons such as `duration_s<2`, `quality>60`, `person:no_frames`.
    """
    reasons = []
    for column, bounds in rules.items():
        value = row.get(column)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            source, error = _missing_cause(row, column)
            reason = bounds.get("reason") or f"{source}:{error}"
            if reason not in reasons and error not in reasons:  # one cause, said once
                reasons.append(reason)
            continue
        failed = []
        if "equals" in bounds and value != bounds["equals"]:
            failed.append(f"{column}!={bounds['equals']}")
        if bounds.get("min") is not None and value < bounds["min"]:
            failed.append(f"{column}<{_fmt(bounds['min'])}")
        if bounds.get("max") is not None and value > bounds["max"]:
            failed.append(f"{column}>{_fmt(bounds['max'])}")
        if bounds.get("abs_max") is not None and abs(value) > bounds["abs_max"]:
            failed.append(f"|{column}|>{_fmt(bounds['abs_max'])}")
        if failed and bounds.get("reason"):
            failed = [bounds["reason"]]
        reasons.extend(failed)
    return reasons


def assign_eligibility(clips: pd.DataFrame, rules: Mapping[str, Rules], *, base: str | None = None
                       ) -> pd.DataFrame:
    """Add `eligible_<name>` per rule set and the merged `reasons` list.

    Args:
        clips: clip table with score columns.
        rules: `{"T": {...}, "A": {...}, ...}`; sets other than `base` also require `base`.
        base: the set the others are subsets of (paper: A and P are subsets of T).

    Returns:
        A copy with `eligible_<name>` booleans and `reasons` (list of str, prefixed `<name>:`
        for sets other than `base`).
    """
    if len(clips):
        # a column a scorer did not produce on this corpus (no clip had audio, say) is fine: its signal is known
        # (`<signal>_backend`) and the rule fails with the scorer's reason; an unknown name is a typo
        signals = {str(c)[: -len("_backend")] for c in clips.columns if str(c).endswith("_backend")}
        for name, rule_set in rules.items():
            for column in rule_set:
                if column not in clips.columns and column.split("_", 1)[0] not in signals:
                    close = difflib.get_close_matches(column, [str(c) for c in clips.columns], n=3, cutoff=0.5)
                    raise KeyError(f"eligibility rule {name}.{column}: the clip table has no column {column!r} "
                                   f"(closest: {', '.join(close) or 'none'}); fix eligibility.rules")
    out = clips.copy()
    records = out.to_dict("records")
    all_reasons: list[list[str]] = [[] for _ in records]
    for name, rule_set in rules.items():
        per_row = [rule_reasons(r, rule_set) for r in records]
        prefix = "" if name == base else f"{name}:"
        for acc, reasons in zip(all_reasons, per_row, strict=True):
            acc.extend(prefix + reason for reason in reasons)
        out[f"eligible_{name}"] = [not r for r in per_row]
    if base is not None:
        for name in rules:
            if name != base:
                out[f"eligible_{name}"] &= out[f"eligible_{base}"]
    out["reasons"] = all_reasons
    return out


def gate_gaps(scorers: Mapping[str, Any], rules: Mapping[str, Rules]) -> list[str]:
    """Where a scorer's `when` gate is stricter than a rule set that bounds the same column: clips that set admits
    on that column go unscored (rules needing the score then fail with `<signal>:skipped:...`). A column no rule
    set bounds is not checked: there the gate only says when there is nothing to compute.

    Args:
        scorers: the `scorers` parameters (`{signal: {"when": {column: {"min"|"max": x}}, ...}}`).
        rules: the eligibility rule sets (`{"T": {column: {"min"|"max": x}}, ...}`).

    Returns:
        One message per gap, e.g. "pose runs only where person >= 0.5, but T admits person >= 0.3".
    """
    gaps = []
    for signal, entry in scorers.items():
        for column, gate in ((entry or {}).get("when") or {}).items():
            for name, rule_set in rules.items():
                rule = rule_set.get(column) or {}
                for bound, op, laxer in (("min", ">=", lambda g, r: r < g), ("max", "<=", lambda g, r: r > g)):
                    if gate.get(bound) is not None and rule.get(bound) is not None and laxer(gate[bound], rule[bound]):
                        gaps.append(f"{signal} runs only where {column} {op} {gate[bound]:g}, "
                                    f"but {name} admits {column} {op} {rule[bound]:g}")
    return gaps


def reason_counts(reasons: pd.Series) -> dict[str, int]:
    """How many clips each reason rejected, most frequent first (bounds folded into the rule name)."""
    counts: dict[str, int] = {}
    for reason_list in reasons:
        for reason in reason_list:
            counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def primary_reason_counts(clips: pd.DataFrame, base: str = "T") -> dict[str, int]:
    """The reasons that actually removed clips: ``base`` reasons over every clip first, then a derived class's
    (``A:...``) only over the clips ``base`` kept (a clip T rejected fails A's rules too, but not because of them).
    Each part most frequent first."""
    kept = clips[f"eligible_{base}"].astype(bool).tolist() if f"eligible_{base}" in clips else [True] * len(clips)
    prefixes = tuple(f"{str(c)[len('eligible_'):]}:" for c in clips.columns
                     if str(c).startswith("eligible_") and str(c) != f"eligible_{base}")
    primary: dict[str, int] = {}
    derived: dict[str, int] = {}
    for reasons, in_base in zip(clips["reasons"], kept, strict=True):
        for reason in reasons:
            if prefixes and reason.startswith(prefixes):
                if in_base:
                    derived[reason] = derived.get(reason, 0) + 1
            else:
                primary[reason] = primary.get(reason, 0) + 1

    def ordered(d: dict[str, int]) -> dict[str, int]:
        return dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))

    return {**ordered(primary), **ordered(derived)}
