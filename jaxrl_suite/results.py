"""A study's results on disk: one directory with a Parquet long table and a JSON manifest.

    <study dir>/results.parquet   one row per (run, checkpoint)
    <study dir>/manifest.json     the spec, resolved configs, versions, hardware, wall-clock, steps

The directory is written whole into a temporary sibling and swapped in with a rename (an
atomic exchange on Linux), so a reader sees either the previous results or the new ones, never
a half-written mix, even if the writer is killed. A directory
that exists but is not a study directory is never overwritten. A symbolic link at the output
path stays a link: the directory it points to is the one replaced. The temporary siblings are
named after their writer (host and process id), so a later write removes those a killed writer
left behind. Directories are created with the mode the umask allows (a study shared between
users or hosts needs group or world access), not tempfile's private 0700.
"""

from __future__ import annotations

import datetime as _dt
import errno
import functools
import glob
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
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
PACKAGES = ("jaxrl_suite", "jax", "jaxlib", "flax", "optax", "chex", "gymnax", "brax", "orbax-checkpoint", "numpy",
            "pyarrow")

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
        repeat = lambda values, dtype=None, n_points=n_points: np.repeat(np.asarray(values, dtype=dtype), n_points)
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
            "eval_return": result.metrics.get("eval_return", np.full((n_runs, n_points), np.nan))
            .astype(np.float64).reshape(-1),
            "episodes": result.metrics["episodes"].astype(np.int64).reshape(-1),
            "diverged": result.metrics["diverged"].astype(bool).reshape(-1),
        }
        for name in hp_names:
            part[HP_PREFIX + name] = repeat([r.hparams.get(name, np.nan) for r in group.runs], np.float64)
        for name, values in sorted(result.metrics.items()):
            if name not in part and name not in ("train_return", "eval_return", "episodes", "diverged"):
                part["metric." + name] = values.astype(np.float64).reshape(-1)
        parts.append(part)
    if not parts:  # a study of tuners only: its runs are in the tuners' table
        return pa.table({name: pa.array([], pa.float64() if name in ("train_return", "eval_return") else pa.string()
                                         if name in ("study", "algo", "algorithm", "env", "seed_role") else
                                         pa.bool_() if name == "diverged" else pa.int64()) for name in COLUMNS})
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
        "written_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


@functools.cache
def git_revision() -> str | None:
    """The commit of the suite's own checkout, None outside a git checkout. Read once per process
    (a study reads it when it starts), so commits made while a long study runs do not end up in
    the manifest of results the earlier code computed."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def write_study(
    out_dir: str | Path, table: pa.Table, manifest: Mapping[str, Any], extra_files: Mapping[str, str] | None = None,
    extra_dirs: Mapping[str, str | Path] | None = None, extra_tables: Mapping[str, pa.Table] | None = None,
) -> Path:
    """Write a study directory atomically (see module docstring), with optional text files, Parquet
    tables and directories (copied in, as hard links where the filesystem allows)."""
    out = Path(out_dir)
    if out.exists() and not is_study_dir(out) and any(out.iterdir()):
        raise ResultsError(f"{out} exists and is not a jaxrl_suite study directory; refusing to overwrite it")

    def write(staging: Path) -> None:
        pq.write_table(table, staging / TABLE)
        (staging / MANIFEST).write_text(json.dumps({"format_version": FORMAT_VERSION, **manifest}, indent=2,
                                                   default=_json_default))
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text)
        for name, extra in (extra_tables or {}).items():
            pq.write_table(extra, staging / name)
        for name, source in (extra_dirs or {}).items():
            if Path(source).is_dir():
                shutil.copytree(source, staging / name, copy_function=_link_or_copy)

    return publish_directory(out, write)


def publish_directory(out: str | Path, write: Callable[[Path], None]) -> Path:
    """Run `write(staging)` into a fresh sibling directory of `out`, then swap it in whole (see
    the module docstring; through a symbolic link at `out`, which stays); if `write` fails the
    staging directory is removed and `out` is untouched. The caller decides beforehand whether
    `out` may be replaced. An OSError (an unwritable place, a full disk) becomes a ResultsError
    naming the path. Returns `out`."""
    out = Path(out)
    target = out.resolve() if out.is_symlink() else out
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(target)
        staging = _new_sibling(target, "writing")
    except OSError as error:
        raise ResultsError(f"cannot write {out}: {_describe(error)}") from None
    try:
        write(staging)
        _swap_in(staging, target)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, OSError):
            raise ResultsError(f"cannot write {out}: {_describe(error)}") from None
        raise
    return out


def check_writable(path: str | Path) -> None:
    """Raise ResultsError unless a directory can be created at `path` (following a symbolic link
    there): probed by creating and removing one in its nearest existing ancestor, so nothing is
    left behind and no missing parent is created."""
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path.absolute()
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ResultsError(f"cannot write {path}: {ancestor} is not a directory")
    try:
        _new_sibling(ancestor / target.name, "probe").rmdir()
    except OSError as error:
        raise ResultsError(
            f"cannot write {path}: nothing can be created in {ancestor} ({error.strerror or error})"
        ) from None


def _describe(error: OSError) -> str:
    where = f" ({error.filename})" if error.filename else ""
    return f"{error.strerror or error}{where}"


def _sibling_prefix(out: Path, kind: str) -> str:
    return f".{out.name}.{kind}-"


def _new_sibling(out: Path, kind: str) -> Path:
    """A new empty directory beside `out`, named after this writer (host, process id); created by
    mkdir, so with the mode the umask gives."""
    path = out.parent / f"{_sibling_prefix(out, kind)}{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
    path.mkdir()
    return path


def remove_stale_staging(out: str | Path) -> list[Path]:
    """Delete the temporary siblings of `out` ("writing" or "old") that a writer on this host left
    when it was killed; those of live processes and other hosts are left alone."""
    out = Path(out)
    out = out.resolve() if out.is_symlink() else out  # a write through a link stages beside its target
    removed = []
    if not out.parent.is_dir():
        return removed
    host = socket.gethostname()
    for kind in ("writing", "old"):
        prefix = _sibling_prefix(out, kind)
        for path in out.parent.glob(glob.escape(prefix) + "*"):
            writer = path.name[len(prefix):].rpartition("-")[0]  # host-pid, then a random token
            writer_host, _, pid = writer.rpartition("-")
            if writer_host == host and pid.isdigit() and not _process_alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def write_text_files(directory: str | Path, files: Mapping[str, str]) -> list[Path]:
    """Write each file to a temporary sibling and rename it into place (atomic per file)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        target = directory / name
        temporary = directory / f".{name}.{secrets.token_hex(4)}"
        # os.open with O_EXCL rather than tempfile, whose files are private (0600) whatever the umask.
        try:
            with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "w") as handle:
                handle.write(text)
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
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
    retired = _new_sibling(out, "old")  # an empty directory: os.replace may overwrite it
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


def final_scores(table: pa.Table, metric: str = "train_return",
                 seed_role: str | None = "test") -> dict[str, np.ndarray]:
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
