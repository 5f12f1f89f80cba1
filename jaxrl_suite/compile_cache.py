"""JAX's persistent compilation cache, on by default for `jaxrl-suite run` and `reproduce`.

XLA compiles each program of a study once per process; with this cache the compiled executable
is also kept on disk, so a second run of the same spec, a `--resume` after a kill, or a repeated
benchmark loads it instead of compiling again (Brax hopper's physics take about a minute to
compile on 2 CPU cores). A cached executable is the one XLA would have compiled: numbers do not
change. The cache is keyed by the program, the jax/jaxlib versions and the device, so a new
installation or another machine simply misses.

Where it lives: $JAXRL_SUITE_COMPILE_CACHE if set (the value `off` disables it), else
$XDG_CACHE_HOME/jaxrl_suite/jax, else ~/.cache/jaxrl_suite/jax. `--no-compile-cache` turns it off
for one command. Delete the folder to reclaim its space.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_VAR = "JAXRL_SUITE_COMPILE_CACHE"
OFF = "off"


def default_directory() -> Path | None:
    """The cache folder this user's commands share, or None where the environment turns it off."""
    chosen = os.environ.get(ENV_VAR)
    if chosen is not None:
        return None if chosen.strip().lower() == OFF else Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxrl_suite" / "jax"


def enable(directory: Path | None = None) -> Path | None:
    """Point JAX's persistent compilation cache at `directory` (default: :func:`default_directory`).

    Returns the folder in use, or None when the cache is off or the folder cannot be created or
    written: a cache is an optimisation, so a read-only home only costs the compile time (a note
    goes to stderr), never the run.
    """
    directory = default_directory() if directory is None else directory
    if directory is None:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as error:
        print(f"jaxrl-suite: note: compilation cache off ({directory}: {error.strerror or error})", file=sys.stderr)
        return None
    import jax

    # Programs that compile in under a second are not stored (JAX's default threshold,
    # JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS): a disk round trip would not pay for itself.
    jax.config.update("jax_compilation_cache_dir", str(directory))
    return directory
