"""Environment ids and construction: `make(env_id, **kwargs)` and `list_envs()`.

Ids are "<family>/<name>":

* ``gymnax/<GymnaxId>``, e.g. ``gymnax/CartPole-v1``, ``gymnax/Breakout-MinAtar``: every id in
  `gymnax.registered_envs`; kwargs go to the gymnax constructor.
* ``brax/<name>``, e.g. ``brax/hopper``; kwargs: ``backend``, ``max_steps_in_episode`` and
  brax's own constructor arguments.
* ``probe/<name>``, e.g. ``probe/two-step``: the suite's probe environments (see probes.py).
* ``craftax/<name>``, e.g. ``craftax/Craftax-Classic-Symbolic-v1`` (craftax_envs.py).
* ``xminigrid/<name>``, e.g. ``xminigrid/MiniGrid-DoorKey-8x8``; kwargs: xminigrid params fields,
  and for XLand ids ``ruleset`` / ``ruleset_seed`` (xminigrid_envs.py).
* ``jumanji/<name>``, e.g. ``jumanji/Snake-v1`` (jumanji_envs.py).

The backends are imported only when an id of theirs is made (gymnax also when listed): importing
them costs seconds, which every `import jaxrl_suite.envs` would otherwise pay.
"""

from __future__ import annotations

import difflib
from typing import Any

from jaxrl_suite.envs.brax_envs import BRAX_ENV_NAMES
from jaxrl_suite.envs.core import Environment
from jaxrl_suite.envs.probes import PROBES

FAMILIES = ("gymnax", "brax", "probe", "craftax", "xminigrid", "jumanji")

#: names known without importing the packages (each adapter module checks them on construction)
CRAFTAX_NAMES = ("Craftax-Classic-Symbolic-v1", "Craftax-Symbolic-v1")
XMINIGRID_NAMES = (
    "MiniGrid-DoorKey-5x5",
    "MiniGrid-DoorKey-8x8",
    "MiniGrid-Empty-8x8",
    "MiniGrid-FourRooms",
    "XLand-MiniGrid-R1-9x9",
)
JUMANJI_NAMES = ("Snake-v1", "Game2048-v1", "Minesweeper-v0")
#: ids whose construction downloads data (not possible offline): `spaces` does not build them
DOWNLOADS_WHEN_BUILT = ("gymnax/MNISTBandit-bsuite",)
#: families whose environments expose action masks (`Environment.has_action_mask`)
MASKED_FAMILIES = ("jumanji",)


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
    """Every id `make` accepts, optionally only those of one family (one of FAMILIES)."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown environment family {family!r}; families: {', '.join(FAMILIES)}")
    names = {
        "gymnax": _gymnax_ids,
        "brax": lambda: list(BRAX_ENV_NAMES),
        "probe": lambda: list(PROBES),
        "craftax": lambda: list(CRAFTAX_NAMES),
        "xminigrid": lambda: list(XMINIGRID_NAMES),
        "jumanji": lambda: list(JUMANJI_NAMES),
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
    elif (family, name) in _OPTIONAL_FAMILY_IDS:
        env = _make_optional(env_id, family, name, kwargs)
    elif family == "gymnax" and name in _gymnax_ids():
        env = _make_gymnax(env_id, name, kwargs)
    else:
        raise UnknownEnvironmentError(env_id, close_matches(env_id, list_envs()))
    env.env_id = env_id
    return env


#: (family, name) of the families installed with the `envs` extra, and their adapter classes
_OPTIONAL_FAMILY_IDS = {
    **{("craftax", name): ("craftax_envs", "CraftaxEnv") for name in CRAFTAX_NAMES},
    **{("xminigrid", name): ("xminigrid_envs", "XMiniGridEnv") for name in XMINIGRID_NAMES},
    **{("jumanji", name): ("jumanji_envs", "JumanjiEnv") for name in JUMANJI_NAMES},
}


class MissingEnvironmentPackageError(ImportError):
    """An id of a family whose package (an optional dependency) is not installed."""


def _make_optional(env_id: str, family: str, name: str, kwargs: dict[str, Any]) -> Environment:
    import importlib

    module_name, class_name = _OPTIONAL_FAMILY_IDS[family, name]
    try:
        module = importlib.import_module(f"jaxrl_suite.envs.{module_name}")
        return getattr(module, class_name)(name, **kwargs)
    except ModuleNotFoundError as error:
        if error.name is None or error.name.split(".")[0] != family:
            raise
        raise MissingEnvironmentPackageError(
            f"{env_id} needs the {family} package, which is not installed: "
            "pip install 'jaxrl_suite[envs]' (or pip install " + family + ")"
        ) from error


def _make_gymnax(env_id: str, name: str, kwargs: dict[str, Any]) -> Environment:
    from jaxrl_suite.envs.gymnax_envs import GymnaxEnv

    try:
        return GymnaxEnv.from_id(name, **kwargs)
    except OSError as error:
        # MNISTBandit-bsuite downloads MNIST when it is constructed.
        raise RuntimeError(
            f"{env_id} needs data that gymnax downloads on construction, and that failed: {error}"
        ) from error

#: (action space, observation space) of every id but the probes, as `describe_space` writes them:
#: finding them costs seconds per env (importing the backend, tracing a reset), so `list` reads
#: them here; tests/test_envs_conformance.py checks each against the environment itself.
SPACES = {
    "gymnax/CartPole-v1": ("Discrete(2)", "float32[4]"),
    "gymnax/Pendulum-v1": ("float32[1]", "float32[3]"),
    "gymnax/Acrobot-v1": ("Discrete(3)", "float32[6]"),
    "gymnax/MountainCar-v0": ("Discrete(3)", "float32[2]"),
    "gymnax/MountainCarContinuous-v0": ("float32[1]", "float32[2]"),
    "gymnax/Asterix-MinAtar": ("Discrete(5)", "float32[10,10,4]"),
    "gymnax/Breakout-MinAtar": ("Discrete(3)", "float32[10,10,4]"),
    "gymnax/Freeway-MinAtar": ("Discrete(3)", "float32[10,10,7]"),
    "gymnax/Seaquest-MinAtar": ("Discrete(6)", "float32[10,10,10]"),
    "gymnax/SpaceInvaders-MinAtar": ("Discrete(4)", "float32[10,10,6]"),
    "gymnax/Catch-bsuite": ("Discrete(3)", "float32[10,5]"),
    "gymnax/DeepSea-bsuite": ("Discrete(2)", "float32[8,8]"),
    "gymnax/MemoryChain-bsuite": ("Discrete(2)", "float32[3]"),
    "gymnax/UmbrellaChain-bsuite": ("Discrete(2)", "float32[3]"),
    "gymnax/DiscountingChain-bsuite": ("Discrete(5)", "float32[2]"),
    "gymnax/SimpleBandit-bsuite": ("Discrete(11)", "float32[1,1]"),
    "gymnax/FourRooms-misc": ("Discrete(4)", "int32[4]"),
    "gymnax/MetaMaze-misc": ("Discrete(4)", "float32[15]"),
    "gymnax/PointRobot-misc": ("float32[2]", "float32[6]"),
    "gymnax/BernoulliBandit-misc": ("Discrete(2)", "float32[4]"),
    "gymnax/GaussianBandit-misc": ("Discrete(2)", "float32[4]"),
    "gymnax/Reacher-misc": ("float32[2]", "float32[8]"),
    "gymnax/Swimmer-misc": ("float32[2]", "float32[16]"),
    "gymnax/Pong-misc": ("Discrete(3)", "float32[30,40,3]"),
    "gymnax/FrozenLake-misc": ("Discrete(4)", "Discrete(16)"),
    "brax/ant": ("float32[8]", "float32[27]"),
    "brax/halfcheetah": ("float32[6]", "float32[17]"),
    "brax/hopper": ("float32[3]", "float32[11]"),
    "brax/humanoid": ("float32[17]", "float32[244]"),
    "brax/humanoidstandup": ("float32[17]", "float32[244]"),
    "brax/inverted_pendulum": ("float32[1]", "float32[4]"),
    "brax/inverted_double_pendulum": ("float32[1]", "float32[8]"),
    "brax/pusher": ("float32[7]", "float32[23]"),
    "brax/reacher": ("float32[2]", "float32[11]"),
    "brax/swimmer": ("float32[2]", "float32[8]"),
    "brax/walker2d": ("float32[6]", "float32[17]"),
    "craftax/Craftax-Classic-Symbolic-v1": ("Discrete(17)", "float32[1345]"),
    "craftax/Craftax-Symbolic-v1": ("Discrete(43)", "float32[8268]"),
    "xminigrid/MiniGrid-DoorKey-5x5": ("Discrete(6)", "uint8[7,7,2]"),
    "xminigrid/MiniGrid-DoorKey-8x8": ("Discrete(6)", "uint8[7,7,2]"),
    "xminigrid/MiniGrid-Empty-8x8": ("Discrete(6)", "uint8[7,7,2]"),
    "xminigrid/MiniGrid-FourRooms": ("Discrete(6)", "uint8[7,7,2]"),
    "xminigrid/XLand-MiniGrid-R1-9x9": ("Discrete(6)", "uint8[5,5,2]"),
    "jumanji/Snake-v1": ("Discrete(4)", "float32[12,12,5]"),
    "jumanji/Game2048-v1": ("Discrete(4)", "float32[4,4]"),
    "jumanji/Minesweeper-v0": ("Discrete(100)", "float32[10,10]"),
}


def spaces(env_id: str) -> tuple[str, str]:
    """(action space, observation space) of `env_id` as short labels, without building it if known."""
    if env_id in SPACES:
        return SPACES[env_id]
    if env_id in DOWNLOADS_WHEN_BUILT:
        raise RuntimeError(f"{env_id} downloads data when built; its spaces are not looked up")
    from jaxrl_suite.envs.core import describe_space

    env = make(env_id)
    params = env.default_params
    return describe_space(env.action_space(params)), describe_space(env.observation_space(params))
