"""Environment ids and construction: `make(env_id, **kwargs)` and `list_envs()`.

Ids are "<family>/<name>":

* ``gymnax/<GymnaxId>``, e.g. ``gymnax/CartPole-v1``, ``gymnax/Breakout-MinAtar``: every id in
  `gymnax.registered_envs`; kwargs go to the gymnax constructor.
* ``brax/<name>``, e.g. ``brax/hopper``; kwargs: ``backend``, ``max_steps_in_episode`` and
  brax's own constructor arguments.
* ``probe/<name>``, e.g. ``probe/two-step``: the suite's probe environments (see probes.py).

gymnax and brax are imported only when an id of theirs is made or listed: importing them costs
seconds, which every `import jaxrl_suite.envs` would otherwise pay.
"""

from __future__ import annotations

import difflib
from typing import Any

from jaxrl_suite.envs.brax_envs import BRAX_ENV_NAMES
from jaxrl_suite.envs.core import Environment
from jaxrl_suite.envs.probes import PROBES

FAMILIES = ("gymnax", "brax", "probe")


class UnknownEnvironmentError(KeyError, ValueError):
    """An id that names no environment; the message suggests the closest real ids."""

    def __init__(self, env_id: str, suggestions: list[str] | tuple[str, ...] = ()) -> None:
        # Only env_id goes to the base class, so the error survives pickling between processes.
        super().__init__(env_id)
        self.env_id = env_id
        self.suggestions = list(suggestions)

    def __str__(self) -> str:
        # KeyError would print the repr of its argument; a sentence reads better.
        message = f"unknown environment id {self.env_id!r}"
        if self.suggestions:
            return f"{message}; did you mean: {', '.join(self.suggestions)}?"
        families = ", ".join(f"{family}/..." for family in FAMILIES)
        return f"{message}; ids look like {families} (see list_envs())"


def close_matches(env_id: str, known_ids: list[str], limit: int = 5) -> list[str]:
    """Known ids that look like `env_id`, best first.

    Case is ignored and a missing family prefix is forgiven ("hopper" finds "brax/hopper").
    Only ids nearly as close as the best one are kept: the shared "gymnax/" prefix alone makes
    every gymnax id look similar, and a list of near-misses would bury the obvious fix.
    """
    query = env_id.lower()

    def similarity(known: str) -> float:
        candidate = known.lower()
        name = candidate.partition("/")[2]
        return max(
            difflib.SequenceMatcher(None, query, candidate).ratio(),
            difflib.SequenceMatcher(None, query, name).ratio(),
        )

    scored = sorted(((similarity(known), known) for known in known_ids), key=lambda s: -s[0])
    if not scored:
        return []
    threshold = max(0.6, scored[0][0] - 0.1)
    return [known for score, known in scored[:limit] if score >= threshold]


def _gymnax_ids() -> list[str]:
    from jaxrl_suite.envs.gymnax_envs import gymnax_ids

    return gymnax_ids()


def list_envs(family: str | None = None) -> list[str]:
    """Every id `make` accepts, optionally only those of one family ("gymnax", "brax", "probe")."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown environment family {family!r}; families: {', '.join(FAMILIES)}")
    names = {
        "gymnax": _gymnax_ids,
        "brax": lambda: list(BRAX_ENV_NAMES),
        "probe": lambda: list(PROBES),
    }
    ids = []
    for name in FAMILIES:
        if family in (None, name):
            ids += [f"{name}/{env_name}" for env_name in names[name]()]
    return ids


def make(env_id: str, **kwargs: Any) -> Environment:
    """Build the environment `env_id` names, with `env.env_id` set to it."""
    family, _, name = env_id.partition("/")
    if family == "probe" and name in PROBES:
        env = PROBES[name](**kwargs)
    elif family == "brax" and name in BRAX_ENV_NAMES:
        from jaxrl_suite.envs.brax_envs import BraxEnv

        env = BraxEnv(name, **kwargs)
    elif family == "gymnax" and name in _gymnax_ids():
        env = _make_gymnax(env_id, name, kwargs)
    else:
        raise UnknownEnvironmentError(env_id, close_matches(env_id, list_envs()))
    env.env_id = env_id
    return env


def _make_gymnax(env_id: str, name: str, kwargs: dict[str, Any]) -> Environment:
    from jaxrl_suite.envs.gymnax_envs import GymnaxEnv

    try:
        return GymnaxEnv.from_id(name, **kwargs)
    except OSError as error:
        # MNISTBandit-bsuite downloads MNIST when it is constructed.
        raise RuntimeError(
            f"{env_id} needs data that gymnax downloads on construction, and that failed: {error}"
        ) from error
