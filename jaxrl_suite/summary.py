"""The per-configuration summary of a study, from its results table.

Each row is one (algorithm label, environment, configuration): the hyperparameters that vary
between that algorithm's configurations, and the final training return (CleanRL's metric: each
seed's mean over its last 100 training episodes) as mean ± population std over seeds (ddof = 0,
as CleanRL reports), on tuning and on test seeds separately, beside the final evaluation return.

A run that diverged is frozen at its last finite state (see the runner), so its "final" returns
are those of a policy from before the divergence, not of a trained one: every cell that averages
such runs says how many of its seeds diverged, and is flagged ⚠.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa

from jaxrl_suite.results import HP_PREFIX


def summary_rows(table: pa.Table) -> list[dict[str, Any]]:
    data = table.to_pydict()
    hp_columns = [c for c in table.column_names if c.startswith(HP_PREFIX)]
    final: dict[tuple, dict[str, Any]] = {}
    for i in range(table.num_rows):
        run = (data["algo"][i], data["env"][i], data["config_id"][i], data["seed"][i])
        if run not in final or data["checkpoint"][i] > final[run]["checkpoint"]:
            final[run] = {name: data[name][i] for name in data}
    by_config: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for (algo, env, config_id, _), row in final.items():
        by_config[(algo, env, config_id)].append(row)

    varying: dict[str, list[str]] = {}
    for algo in {key[0] for key in by_config}:
        rows = [r for key, rs in by_config.items() if key[0] == algo for r in rs]
        varying[algo] = [c for c in hp_columns if len({_key(r[c]) for r in rows}) > 1]

    out = []
    for (algo, env, config_id), rows in sorted(by_config.items()):
        first = rows[0]
        entry = {
            "algo": algo,
            "env": env,
            "config": config_id,
            "setting": ", ".join(f"{c[len(HP_PREFIX):]}={first[c]:.3g}" for c in varying[algo]),
            "env_steps": max(r["env_steps"] for r in rows),
            "diverged": sum(bool(r["diverged"]) for r in rows),
        }
        for role in ("tune", "test"):
            role_rows = [r for r in rows if r["seed_role"] == role]
            train = np.array([r["train_return"] for r in role_rows], dtype=float)
            evals = np.array([r["eval_return"] for r in role_rows], dtype=float)
            entry[f"{role}_seeds"] = len(role_rows)
            entry[f"{role}_diverged"] = sum(bool(r["diverged"]) for r in role_rows)
            entry[f"{role}_train"] = ((float(np.nanmean(train)), float(np.nanstd(train)))
                                      if role_rows and not np.all(np.isnan(train)) else None)
            entry[f"{role}_eval"] = float(np.nanmean(evals)) if role_rows and not np.all(np.isnan(evals)) else None
        out.append(entry)
    return out


def _key(value: Any) -> Any:
    return "nan" if isinstance(value, float) and np.isnan(value) else value


def markdown(rows: list[dict[str, Any]], title: str) -> str:
    """A Markdown table of `summary_rows`, headed by `title`."""
    cell = lambda v: "—" if v is None else f"{v[0]:.2f} ± {v[1]:.2f}"
    number = lambda v: "—" if v is None else f"{v:.2f}"
    lines = [
        f"## {title}",
        "",
        "Final training return: each seed's mean over its last 100 training episodes; mean ± std over seeds (ddof 0). "
        "Evaluation: mean return of the final policy's evaluation episodes, averaged over seeds. "
        "⚠ diverged k/n: k of the n seeds diverged; their runs were frozen at the last finite state before the "
        "divergence, so the numbers beside the flag include returns of those frozen policies, not trained ones.",
        "",
        "| algo | env | config | setting | env steps | tuning seeds | test seeds | eval (test seeds) | diverged |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        tune = f"{cell(r['tune_train'])} (n={r['tune_seeds']}){_flag(r, 'tune')}" if r["tune_seeds"] else "—"
        test = f"{cell(r['test_train'])} (n={r['test_seeds']}){_flag(r, 'test')}" if r["test_seeds"] else "—"
        evals = f"{number(r['test_eval'])}{_flag(r, 'test')}" if r["test_eval"] is not None else "—"
        seeds = r["tune_seeds"] + r["test_seeds"]
        diverged = f"⚠ {r['diverged']}/{seeds} seeds" if r["diverged"] else "0"
        lines.append(
            f"| {r['algo']} | {r['env']} | {r['config']} | {r['setting'] or '—'} | {r['env_steps']:,} "
            f"| {tune} | {test} "
            f"| {evals} | {diverged} |"
        )
    return "\n".join(lines) + "\n"


def _flag(row: dict[str, Any], role: str) -> str:
    """' ⚠ diverged k/n' when k of the role's n seeds diverged (their returns are frozen), else ''."""
    diverged = row[f"{role}_diverged"]
    return f" ⚠ diverged {diverged}/{row[f'{role}_seeds']}" if diverged else ""
