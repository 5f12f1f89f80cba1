"""The words and number formats every report shares: intervals, env steps, tables, settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxrl_suite.evaluation.bootstrap import IntervalEstimate
from jaxrl_suite.report.study import AlgoRuns, Study, settings, varying_hyperparameters


def format_number(value: float, digits: int) -> str:
    if value is None or not np.isfinite(value):
        return "∞" if value is not None and value > 0 else "—"
    return f"{value:.{digits}f}"


def format_interval(estimate: IntervalEstimate, digits: int) -> str:
    """"point [lo, hi]", the form every CI takes in report.md."""
    point, lo, hi = (float(np.asarray(v)) for v in (estimate.point, estimate.lo, estimate.hi))
    return f"{format_number(point, digits)} [{format_number(lo, digits)}, {format_number(hi, digits)}]"


def format_steps(value: float) -> str:
    """Env steps with thousands separators; ∞ for a censored SC_eff."""
    return f"{value:,.0f}" if np.isfinite(value) else "∞"


def format_steps_interval(estimate: IntervalEstimate) -> str:
    return f"[{format_steps(float(estimate.lo))}, {format_steps(float(estimate.hi))}]"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def _format_value(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _value_order(value: Any) -> tuple:
    # numbers in numeric order, anything else (a JSON list such as hidden sizes) after them
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return (0, value, "") if is_number else (1, 0, repr(value))


def hyperparameter_setting(config: Mapping[str, Any], varying: Sequence[str]) -> str:
    values = settings(config)
    return ", ".join(f"{name}={_format_value(values.get(name))}" for name in varying) or "(no varying hyperparameter)"


def search_space(study: Study, algo: AlgoRuns) -> str:
    every = [settings(c) for c in algo.configs]
    parts = []
    for name in varying_hyperparameters(algo):
        values = sorted({repr(s.get(name)): s.get(name) for s in every}.values(), key=_value_order)
        if len(values) <= 6:
            parts.append(f"{name} ∈ {{{', '.join(_format_value(v) for v in values)}}}")
        else:
            parts.append(f"{name}: {len(values)} values from {_format_value(values[0])} to {_format_value(values[-1])}")
    return f"{_search_method(study, algo.label)}: " + "; ".join(parts) if parts else "none (one configuration)"


def _search_method(study: Study, label: str) -> str:
    for entry in study.manifest.get("spec", {}).get("algorithms", []):
        if isinstance(entry, Mapping) and entry.get("label", entry.get("algorithm")) == label:
            search = entry.get("search", {})
            return str(search.get("method", "grid" if search.get("space") else "none"))
    return "search method not recorded"
