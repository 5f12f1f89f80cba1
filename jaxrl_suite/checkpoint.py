"""Orbax checkpoints of a study in progress, and the final states of its runs.

A study writing `<out>` keeps its checkpoints beside it, never inside it, so an unfinished run
never makes `<out>` look like a finished study, and the atomic swap that writes `<out>` neither
carries nor destroys them:

    <out>.checkpoints/
        checkpoint.json         which study these checkpoints belong to: its spec and digest
        lock                    held (flock) by the run using the directory; holds its process id
        steps/<n>/              orbax steps (the latest is kept): position (JSON), records, carry
        final/<group>/<chunk>/  each chunk's final carry, saved as soon as the chunk finishes

Everything is orbax (OCDBT/Zarr arrays plus JSON): no pickle anywhere. Every process of a
multi-process run calls the same methods; orbax writes each process's shards and synchronises.
One run at a time uses a checkpoint directory: process 0 holds an exclusive lock on it, so a
second run on the same `--out` is told which process has it instead of reading half-written
steps.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax

MARKER = "checkpoint.json"
LOCK = "lock"
FORMAT_VERSION = 1
SUFFIX = ".checkpoints"


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be used: missing, foreign, corrupted or for another spec."""


def checkpoint_dir(out_dir: str | Path) -> Path:
    out_dir = Path(out_dir)
    return out_dir.with_name(out_dir.name + SUFFIX)


_ABSENT = object()  # a key missing on one side


def spec_differences(old: Any, new: Any, path: str = "") -> list[str]:
    """Dotted paths of the fields that differ between two JSON-like specs (`[]` marks list items)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return [d for key in sorted(set(old) | set(new), key=str)
                for d in spec_differences(old.get(key, _ABSENT), new.get(key, _ABSENT),
                                          f"{path}.{key}" if path else str(key))]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in spec_differences(a, b, f"{path}[{i}]")]
    return [] if old == new else [path or "(the whole spec)"]


def _as_json(value: Any) -> Any:
    """The value as it reads back from JSON (TOML dates become strings), for comparisons."""
    return json.loads(json.dumps(value, default=str))


def _is_primary() -> bool:
    return jax.process_index() == 0


def _sync(name: str) -> None:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


class StudyCheckpoints:
    """The checkpoint directory of one study run (see the module docstring)."""

    def __init__(self, directory: Path, lock: DirectoryLock | None = None):
        import orbax.checkpoint as ocp

        self._lock = lock

        # orbax's array writer refuses relative paths, and `--out results/x` is the usual form.
        self.directory = directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=1,  # a new step is complete on disk before the previous one is deleted
            # Synchronous saves: the runner donates the carry to the next segment right after saving.
            enable_async_checkpointing=False,
            cleanup_tmp_directories=True,  # the remains of a save cut short by a kill
        )
        self._manager = ocp.CheckpointManager(directory / "steps", options=options,
                                              item_names=("position", "records", "carry"))

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def start(cls, directory: Path, spec: Mapping[str, Any], digest: str) -> StudyCheckpoints:
        """A fresh checkpoint directory; refuses to touch an existing one (it may be resumable)."""
        if directory.exists() or directory.is_symlink():
            if _is_primary() and directory.is_dir():
                DirectoryLock.acquire(directory).release()  # says so if another run holds it
            raise CheckpointError(
                f"{directory} already exists (checkpoints of an unfinished run?); pass --resume to continue "
                "that run, or delete the directory to start over"
            )
        _sync("jaxrl_suite: checked for old checkpoints")  # before process 0 creates the directory
        lock = None
        if _is_primary():
            try:
                directory.mkdir(parents=True)
                lock = DirectoryLock.acquire(directory)
                marker = {"format_version": FORMAT_VERSION, "spec_digest": digest, "spec": _as_json(spec)}
                (directory / MARKER).write_text(json.dumps(marker, indent=2))
            except OSError as error:
                raise CheckpointError(
                    f"cannot create the checkpoint directory {directory}: {error.strerror or error}"
                ) from None
        _sync("jaxrl_suite: checkpoint directory created")
        return cls(directory, lock)

    @classmethod
    def resume(cls, directory: Path, spec: Mapping[str, Any]) -> StudyCheckpoints:
        """The checkpoint directory of an earlier run of the same spec, checked before anything is read."""
        if not directory.is_dir():
            raise CheckpointError(f"nothing to resume: no checkpoint directory at {directory} "
                                  "(run without --resume to start)")
        lock = _lock_on_primary(directory)
        try:
            marker = read_marker(directory)
            differences = spec_differences(marker.get("spec"), _as_json(spec))
            if differences:
                raise CheckpointError(
                    f"{directory} was written for a different spec; it differs in {', '.join(differences)} "
                    f"(checkpoint spec digest {marker.get('spec_digest')}); run the original spec, or delete the "
                    "directory to start over"
                )
        except BaseException:
            if lock:
                lock.release()
            raise
        checkpoints = cls(directory, lock)
        # A study of tuners only saves its steps in the tuners' part (see `part`).
        tuner_steps = directory / "tuners" / "steps"
        if checkpoints.latest_step() is None and not (tuner_steps.is_dir() and any(
                p.name.isdigit() for p in tuner_steps.iterdir())):
            checkpoints.close()  # lets orbax's background clean-up finish before the process exits
            raise CheckpointError(f"{directory} holds no complete checkpoint to resume from; delete it to start over")
        return checkpoints

    def part(self, name: str) -> StudyCheckpoints:
        """A second sequence of steps in a subdirectory, held under this directory's lock and
        removed with it (the tuners' progress: its records and carries have other shapes)."""
        return StudyCheckpoints(self.directory / name)

    # -- the study's position, records and carry -----------------------------------------------

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, position: Mapping[str, Any], records: Any, carry: Any | None) -> None:
        """Save a new step: `position` (JSON), `records` (numpy arrays) and the carry, if any."""
        import orbax.checkpoint as ocp

        step = (self.latest_step() or 0) + 1
        position = {"format_version": FORMAT_VERSION, **position}
        items = {"position": ocp.args.JsonSave(position), "records": ocp.args.StandardSave(records)}
        if carry is not None:
            items["carry"] = ocp.args.StandardSave(carry)
        self._manager.save(step, args=ocp.args.Composite(**items), force=True)
        self._manager.wait_until_finished()

    def position(self) -> dict[str, Any]:
        """The JSON position of the latest step."""
        import orbax.checkpoint as ocp

        restored = self._restore(ocp.args.Composite(position=ocp.args.JsonRestore()))
        position = restored["position"]
        if not isinstance(position, dict) or position.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(f"{self.directory}: the latest checkpoint is not a jaxrl_suite checkpoint "
                                  f"of format {FORMAT_VERSION}")
        return position

    def restore(self, records_target: Any, carry_target: Any | None) -> tuple[Any, Any | None]:
        """Records and carry of the latest step, shaped and sharded like the targets."""
        import orbax.checkpoint as ocp

        items = {"records": ocp.args.StandardRestore(records_target)}
        if carry_target is not None:
            items["carry"] = ocp.args.StandardRestore(carry_target)
        restored = self._restore(ocp.args.Composite(**items))
        return restored["records"], restored["carry"] if carry_target is not None else None

    def _restore(self, args) -> Any:
        step = self.latest_step()
        try:
            return self._manager.restore(step, args=args)
        except Exception as error:  # orbax raises many kinds (ValueError, KeyError, tensorstore errors)
            raise CheckpointError(
                f"{self.directory}: checkpoint step {step} cannot be read "
                f"({type(error).__name__}: {_first_line(error)}); "
                "it is corrupted or was not written by this version; delete the directory to start over"
            ) from None

    # -- final states ----------------------------------------------------------------------------

    def final_dir(self, group: int) -> Path:
        return self.directory / "final" / str(group)

    def save_final(self, group: int, chunk: int, carry: Any) -> None:
        save_tree(self.final_dir(group) / str(chunk), carry)

    def close(self) -> None:
        """Finish orbax's work and release the directory (it stays on disk for --resume)."""
        try:
            self._close_manager()
        finally:
            if self._lock:
                self._lock.release()
                self._lock = None

    def _close_manager(self) -> None:
        # The manager's close() does not wait for its background clean-up of unfinished saves,
        # which prints a traceback if the interpreter exits first (a refused resume exits at
        # once); its save() waits for it through this method, so wait the same way.
        wait_for_cleanup = getattr(self._manager, "_maybe_await_cleanup_tmp_directory", None)
        if wait_for_cleanup is not None:
            wait_for_cleanup()
        self._manager.close()

    def remove(self) -> None:
        """Delete the directory once its study is written (every process must call this)."""
        self._close_manager()
        _sync("jaxrl_suite: study written")
        if _is_primary():
            shutil.rmtree(self.directory, ignore_errors=True)
        self.close()


class DirectoryLock:
    """An exclusive, non-blocking flock on `<directory>/lock`, which holds the owner's process id
    and host. The kernel drops the lock when its owner dies, so a killed run never blocks a
    resume; the file itself is removed on release."""

    def __init__(self, path: Path, fd: int):
        self.path, self._fd = path, fd

    @classmethod
    def acquire(cls, directory: Path) -> DirectoryLock:
        path = directory / LOCK
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as error:
                raise CheckpointError(f"cannot lock {directory}: {error.strerror or error}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.pread(fd, 200, 0).decode(errors="replace").split()
                os.close(fd)
                pid = owner[0] if owner else "?"
                host = f" on {owner[1]}" if len(owner) > 1 and owner[1] != socket.gethostname() else ""
                raise CheckpointError(
                    f"{directory} is in use by process {pid}{host} (another run of this study); wait for it to "
                    "finish, or stop it and continue with --resume"
                ) from None
            except OSError:  # a filesystem without flock: run unlocked, as before locks existed
                return cls(path, fd)
            # The previous owner may have removed the file between our open and our flock.
            try:
                if os.path.samestat(os.fstat(fd), os.stat(path)):
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            if os.path.samestat(os.fstat(self._fd), os.stat(self.path)):
                self.path.unlink()
        except FileNotFoundError:  # the directory was deleted with the lock in it
            pass
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _lock_on_primary(directory: Path) -> DirectoryLock | None:
    """Process 0's lock on `directory`; every process raises if it could not be taken."""
    problem, lock = None, None
    if _is_primary():
        try:
            lock = DirectoryLock.acquire(directory)
        except CheckpointError as error:
            problem = str(error)
    if jax.process_count() > 1:
        import numpy as np
        from jax.experimental import multihost_utils

        if int(multihost_utils.broadcast_one_to_all(np.int32(problem is not None))) and problem is None:
            problem = f"{directory}: process 0 could not lock it (see its message)"
    if problem:
        raise CheckpointError(problem)
    return lock


def read_marker(directory: Path) -> dict[str, Any]:
    path = directory / MARKER
    if not path.is_file():
        raise CheckpointError(f"{directory} is not a jaxrl_suite checkpoint directory (no {MARKER}); "
                              "refusing to use it")
    try:
        marker = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
        raise CheckpointError(f"{path} is corrupted ({error}); delete {directory} to start over") from None
    if not isinstance(marker, dict) or marker.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a jaxrl_suite checkpoint marker of format {FORMAT_VERSION}")
    return marker


def save_tree(path: Path, tree: Any) -> None:
    """Save a pytree of arrays with orbax, replacing whatever was at `path`."""
    import orbax.checkpoint as ocp

    with ocp.Checkpointer(ocp.StandardCheckpointHandler()) as checkpointer:
        checkpointer.save(path.absolute(), args=ocp.args.StandardSave(tree), force=True)


def restore_tree(path: Path, target: Any) -> Any:
    """Restore a pytree saved by `save_tree`, shaped and placed like `target` (ShapeDtypeStructs)."""
    import orbax.checkpoint as ocp

    try:
        with ocp.Checkpointer(ocp.StandardCheckpointHandler()) as checkpointer:
            return checkpointer.restore(path.absolute(), args=ocp.args.StandardRestore(target))
    except Exception as error:  # see StudyCheckpoints._restore
        raise CheckpointError(f"{path} cannot be read ({type(error).__name__}: {_first_line(error)})") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else "no message"
