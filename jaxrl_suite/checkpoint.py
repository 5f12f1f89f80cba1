"""Orbax checkpoints of a study in progress, and the final states of its runs.

A study writing `<out>` keeps its checkpoints beside it, never inside it, so an unfinished run
never makes `<out>` look like a finished study, and the atomic swap that writes `<out>` neither
carries nor destroys them:

    <out>.checkpoints/
        checkpoint.json         which study these checkpoints belong to: its spec and digest
        steps/<n>/              orbax steps (the latest is kept): position (JSON), records, carry
        final/<group>/<chunk>/  each chunk's final carry, saved as soon as the chunk finishes

Everything is orbax (OCDBT/Zarr arrays plus JSON): no pickle anywhere. Every process of a
multi-process run calls the same methods; orbax writes each process's shards and synchronises.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax

MARKER = "checkpoint.json"
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
                for d in spec_differences(old.get(key, _ABSENT), new.get(key, _ABSENT), f"{path}.{key}" if path else str(key))]
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

    def __init__(self, directory: Path):
        import orbax.checkpoint as ocp

        # orbax's array writer refuses relative paths, and `--out results/x` is the usual form.
        self.directory = directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=1,  # a new step is complete on disk before the previous one is deleted
            # Synchronous saves: the runner donates the carry to the next segment right after saving.
            enable_async_checkpointing=False,
            cleanup_tmp_directories=True,  # the remains of a save cut short by a kill
        )
        self._manager = ocp.CheckpointManager(directory / "steps", options=options, item_names=("position", "records", "carry"))

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def start(cls, directory: Path, spec: Mapping[str, Any], digest: str) -> "StudyCheckpoints":
        """A fresh checkpoint directory; refuses to touch an existing one (it may be resumable)."""
        if directory.exists() or directory.is_symlink():
            raise CheckpointError(
                f"{directory} already exists (checkpoints of an unfinished run?); pass --resume to continue "
                "that run, or delete the directory to start over"
            )
        _sync("jaxrl_suite: checked for old checkpoints")  # before process 0 creates the directory
        if _is_primary():
            directory.mkdir(parents=True)
            marker = {"format_version": FORMAT_VERSION, "spec_digest": digest, "spec": _as_json(spec)}
            (directory / MARKER).write_text(json.dumps(marker, indent=2))
        _sync("jaxrl_suite: checkpoint directory created")
        return cls(directory)

    @classmethod
    def resume(cls, directory: Path, spec: Mapping[str, Any]) -> "StudyCheckpoints":
        """The checkpoint directory of an earlier run of the same spec, checked before anything is read."""
        if not directory.is_dir():
            raise CheckpointError(f"nothing to resume: no checkpoint directory at {directory} (run without --resume to start)")
        marker = read_marker(directory)
        differences = spec_differences(marker.get("spec"), _as_json(spec))
        if differences:
            raise CheckpointError(
                f"{directory} was written for a different spec; it differs in {', '.join(differences)} "
                f"(checkpoint spec digest {marker.get('spec_digest')}); run the original spec, or delete the "
                "directory to start over"
            )
        checkpoints = cls(directory)
        if checkpoints.latest_step() is None:
            raise CheckpointError(f"{directory} holds no complete checkpoint to resume from; delete it to start over")
        return checkpoints

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
            raise CheckpointError(f"{self.directory}: the latest checkpoint is not a jaxrl_suite checkpoint of format {FORMAT_VERSION}")
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
                f"{self.directory}: checkpoint step {step} cannot be read ({type(error).__name__}: {_first_line(error)}); "
                "it is corrupted or was not written by this version; delete the directory to start over"
            ) from None

    # -- final states ----------------------------------------------------------------------------

    def final_dir(self, group: int) -> Path:
        return self.directory / "final" / str(group)

    def save_final(self, group: int, chunk: int, carry: Any) -> None:
        save_tree(self.final_dir(group) / str(chunk), carry)

    def close(self) -> None:
        self._manager.close()

    def remove(self) -> None:
        """Delete the directory once its study is written (every process must call this)."""
        self.close()
        _sync("jaxrl_suite: study written")
        if _is_primary():
            shutil.rmtree(self.directory, ignore_errors=True)


def read_marker(directory: Path) -> dict[str, Any]:
    path = directory / MARKER
    if not path.is_file():
        raise CheckpointError(f"{directory} is not a jaxrl_suite checkpoint directory (no {MARKER}); refusing to use it")
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
