"""One JSON line for benchmarks/device_check.sh from a finished study directory: what ran, on what
hardware, how many env steps, how long (training wall-clock and the first segment with its compile).

    python benchmarks/device_summary.py CHECK STUDY_DIR [--command "..."] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def summary(check: str, study: Path, command: str, dry_run: bool) -> dict:
    manifest = json.loads((study / "manifest.json").read_text())
    groups = manifest["groups"]
    env_steps = sum(g["runs"] * g["env_steps_per_run"] for g in groups)
    wall = manifest["wall_clock_s"]
    return {
        "check": check, "dry_run": dry_run, "hardware": manifest["devices"], "host": manifest["host"],
        "command": command, "groups": len(groups), "runs": sum(g["runs"] for g in groups),
        "runs_per_device": sorted({g["runs_per_device"] for g in groups}), "env_steps": env_steps,
        "wall_clock_s": wall, "first_segments_with_compile_s": round(sum(g["first_segment_with_compile_s"]
                                                                        for g in groups), 3),
        "env_steps_per_s": round(env_steps / wall) if wall else None,
        "versions": {k: manifest["versions"].get(k) for k in ("jax", "jaxlib", "brax", "gymnax")},
        "written_at": manifest["written_at"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check")
    parser.add_argument("study", type=Path)
    parser.add_argument("--command", default="")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(summary(args.check, args.study, args.command, args.dry_run)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
