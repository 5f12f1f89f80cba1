"""A study's results on disk: one directory with a Parquet long table and a JSON manifest.

    <study dir>/results.parquet   one row per (run, checkpoint)
    <study dir>/manifest.json     the spec, resolved configs, versions, hardware, wall-clock, steps

The directory is written whole into a temporary sibling and swapped in with a rename (an
atomic exchange on Linux), so a reader sees either the previous results or the new ones, never
a half-written mix, even if the writer is killed. A directory
that exists but is not a study directory is never overwritten.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

TABLE = "results.parquet"
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
HP_PREFIX = "hp."
PACKAGES = ("jaxrl_suite", "jax", "jaxlib", "flax", "optax", "chex", "gymnax", "brax", "orbax-checkpoint", "numpy", "pyarrow")

#: columns every results table has, in order (then one `hp.<name>` column per hyperparameter)
COLUMNS = ("study", "algo", "algorithm", "env", "config_id", "seed", "seed_role", "checkpoint",
           "env_steps", "train_return", "eval_return", "episodes", "diverged")


class ResultsError(ValueError):
    """A results directory that cannot be read or must not be written."""


def table_from_groups(study: str, group_results: Sequence[Any]) -> pa.Table:
    """The long table of a study's runs from the runner's GroupResults."""
    columns: dict[str, list[np.ndarray]] = {}
    hp_names = sorted({name for r in group_results for run in r.group.runs for name in run.hparams})
    parts = []
    for result in group_results:
        group = result.group
        n_runs, n_points = len(group.runs), len(result.env_steps)
        repeat = lambda values, dtype=None: np.repeat(np.asarray(values, dtype=dtype), n_points)
        part = {
            "study": np.full(n_runs * n_points, study, dtype=object),
            "algo": np.full(n_runs * n_points, group.label, dtype=object),
            "algorithm": np.full(n_runs * n_points, group.algorithm.name, dtype=object),
            "env": np.full(n_runs * n_points, group.env_id, dtype=object),
            "config_id": repeat([r.config_id for r in group.runs], np.int32),
            "seed": repeat([r.seed for r in group.runs], np.int64),
            "seed_role": repeat([r.seed_role for r in group.runs], object),
            "checkpoint": np.tile(np.arange(n_points, dtype=np.int32), n_runs),
            "env_steps": np.tile(result.env_steps.astype(np.int64), n_runs),
            "train_return": result.metrics["train_return"].astype(np.float64).reshape(-1),
            "eval_return": result.metrics.get("eval_return", np.full((n_runs, n_points), np.nan)).astype(np.float64).reshape(-1),
            "episodes": result.metrics["episodes"].astype(np.int64).reshape(-1),
            "diverged": result.metrics["diverged"].astype(bool).reshape(-1),
        }
        for name in hp_names:
            part[HP_PREFIX + name] = repeat([r.hparams.get(name, np.nan) for r in group.runs], np.float64)
        for name, values in sorted(result.metrics.items()):
            if name not in part and name not in ("train_return", "eval_return", "episodes", "diverged"):
                part["metric." + name] = values.astype(np.float64).reshape(-1)
        parts.append(part)
    names = list(COLUMNS) + [HP_PREFIX + n for n in hp_names]
    extra = sorted({k for p in parts for k in p if k not in names})
    for name in names + extra:
        columns[name] = [p.get(name, np.full(len(p["study"]), np.nan)) for p in parts]
    return pa.table({name: np.concatenate(values) for name, values in columns.items()})


def environment_record() -> dict[str, Any]:
    """Package versions, git revision, devices and host: what a reader needs to trust a number."""
    import jax

    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "versions": versions,
        "git_revision": git_revision(),
        "devices": [f"{d.platform}:{d.device_kind}" for d in jax.devices()],
        "host": {"platform": platform.platform(), "processor": platform.machine(), "cpu_count": os.cpu_count()},
        "python": platform.python_version(),
        "written_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def git_revision() -> str | None:
    """The commit of the suite's own checkout, None outside a git checkout."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def write_study(
    out_dir: str | Path, table: pa.Table, manifest: Mapping[str, Any], extra_files: Mapping[str, str] | None = None,
    extra_dirs: Mapping[str, str | Path] | None = None,
) -> Path:
    """Write a study directory atomically (see module docstring), with optional text files and
    directories (copied in, as hard links where the filesystem allows)."""
    out = Path(out_dir)
    if out.exists() and not is_study_dir(out) and any(out.iterdir()):
        raise ResultsError(f"{out} exists and is not a jaxrl_suite study directory; refusing to overwrite it")

    def write(staging: Path) -> None:
        pq.write_table(table, staging / TABLE)
        (staging / MANIFEST).write_text(json.dumps({"format_version": FORMAT_VERSION, **manifest}, indent=2, default=_json_default))
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text)
        for name, source in (extra_dirs or {}).items():
            if Path(source).is_dir():
                shutil.copytree(source, staging / name, copy_function=_link_or_copy)

    return publish_directory(out, write)


def publish_directory(out: str | Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(staging)`` into a fresh temporary sibling of ``out``, then swap it in whole
    (see module docstring); if ``write`` fails the staging directory is removed and ``out`` is
    untouched. The caller decides beforehand whether ``out`` may be replaced."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.writing-", dir=out.parent))
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would make the published directory private
        write(staging)
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def write_text_files(directory: str | Path, files: Mapping[str, str]) -> list[Path]:
    """Write each file to a temporary sibling and rename it into place (atomic per file)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        target = directory / name
        with tempfile.NamedTemporaryFile("w", dir=directory, prefix=f".{name}.", delete=False) as handle:
            handle.write(text)
        os.replace(handle.name, target)
        written.append(target)
    return written


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _swap_in(staging: Path, out: Path) -> None:
    """Put `staging` at `out`. Replacing an existing study is one atomic exchange where the OS
    offers it (Linux), so a kill at any instant leaves a whole study at `out`."""
    if not out.exists():
        os.replace(staging, out)
        return
    if _exchange(staging, out):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the previous study
        return
    retired = out.parent / f".{out.name}.old-{os.getpid()}"
    os.replace(out, retired)
    os.replace(staging, out)
    shutil.rmtree(retired, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux's renameat2(RENAME_EXCHANGE); False where unavailable."""
    if sys.platform != "linux":
        return False
    import ctypes

    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:  # a C library older than glibc 2.28
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EPERM):  # the filesystem or kernel cannot exchange
        return False
    raise OSError(error, os.strerror(error), str(b))


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set)):
        return list(value)
    return str(value)


def is_study_dir(path: str | Path) -> bool:
    path = Path(path)
    return (path / MANIFEST).is_file() and (path / TABLE).is_file()


def read_study(path: str | Path) -> tuple[pa.Table, dict[str, Any]]:
    """The table and manifest of a study directory, with a clear error for anything else."""
    path = Path(path)
    if not path.is_dir():
        raise ResultsError(f"{path} is not a directory")
    if not is_study_dir(path):
        raise ResultsError(f"{path} is not a study directory (expected {TABLE} and {MANIFEST})")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultsError(f"{path / MANIFEST} is not valid JSON: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise ResultsError(f"{path / MANIFEST} is not a jaxrl_suite manifest of format {FORMAT_VERSION}")
    try:
        table = pq.read_table(path / TABLE)
    except (pa.ArrowInvalid, OSError) as error:
        raise ResultsError(f"{path / TABLE} is not a readable Parquet file: {error}") from None
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise ResultsError(f"{path / TABLE} lacks columns {missing}")
    return table, manifest


def export_csv(path: str | Path, destination: str | Path | None = None) -> Path:
    table, _ = read_study(path)
    destination = Path(destination or Path(path) / "results.csv")
    pacsv.write_csv(table, destination)
    return destination


def final_scores(table: pa.Table, metric: str = "train_return", seed_role: str | None = "test") -> dict[str, np.ndarray]:
    """rliable-style `{algo: array[runs, tasks]}` of each run's value at its last checkpoint.

    Runs are (config, seed) pairs; tasks are environments in sorted order. A diverged run keeps
    its recorded value (callers decide how to charge failures). Rows are aligned across tasks
    by (config_id, seed).
    """
    data = table.to_pydict()
    last: dict[tuple, tuple[int, float]] = {}
    for i in range(table.num_rows):
        if seed_role and data["seed_role"][i] != seed_role:
            continue
        key = (data["algo"][i], data["env"][i], data["config_id"][i], data["seed"][i])
        if key not in last or data["checkpoint"][i] > last[key][0]:
            last[key] = (data["checkpoint"][i], data[metric][i])
    envs = sorted({k[1] for k in last})
    out: dict[str, np.ndarray] = {}
    for algo in sorted({k[0] for k in last}):
        runs = sorted({(k[2], k[3]) for k in last if k[0] == algo})
        out[algo] = np.array(
            [[last.get((algo, env, *run), (0, np.nan))[1] for env in envs] for run in runs], dtype=np.float64
        )
    return out
