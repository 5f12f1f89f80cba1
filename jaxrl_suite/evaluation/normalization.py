"""Score normalisation: frozen per-environment anchors and the p5/p95 percentile scheme.

Two schemes, both affine maps g = (R - lo) / (hi - lo) applied to raw returns R:

* **min-max with frozen anchors** (Agarwal et al. 2021 use random/human anchors for Atari):
  lo, hi and the "solved" threshold tau of every environment live in the versioned package
  file ``anchors.toml``. They never depend on which algorithms are being compared, so
  normalised scores do not drift when an algorithm is added.
* **percentile** (Tang & Zhang 2026; Adkins et al. 2024): lo and hi are the 5th and 95th
  percentiles of a pool of returns (e.g. every run of every configuration on one
  environment). The result carries the pool it was computed from, because such scores are
  only comparable with others normalised by the same pool.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources

import numpy as np
from numpy.typing import ArrayLike

ANCHORS_RESOURCE = "anchors.toml"


@dataclasses.dataclass(frozen=True)
class Anchor:
    """Normalisation anchors of one environment, in raw-return units.

    ``threshold`` is None where no solved return tau can be trusted for the environment;
    ``threshold_unusable`` then says why, and :meth:`solved_threshold` raises with that reason.
    """

    env_id: str
    lo: float
    hi: float
    threshold: float | None
    source: str
    threshold_unusable: str | None = None

    def __post_init__(self):
        if not self.hi > self.lo:
            raise ValueError(f"anchor {self.env_id!r}: hi ({self.hi}) must exceed lo ({self.lo})")
        if (self.threshold is None) == (self.threshold_unusable is None):
            raise ValueError(f"anchor {self.env_id!r}: give either a threshold or the reason it is unusable")
        if self.threshold is not None and not self.lo < self.threshold <= self.hi:
            raise ValueError(f"anchor {self.env_id!r}: the threshold ({self.threshold}) must lie in (lo, hi] = "
                             f"({self.lo}, {self.hi}]")

    def solved_threshold(self) -> float:
        """tau in raw returns; a ValueError naming the reason where the anchor has none."""
        if self.threshold is None:
            raise ValueError(f"no usable solved threshold tau for {self.env_id}: {self.threshold_unusable}")
        return self.threshold

    @property
    def normalized_threshold(self) -> float:
        """tau on the min-max scale: (tau - lo) / (hi - lo)."""
        return (self.solved_threshold() - self.lo) / (self.hi - self.lo)


@dataclasses.dataclass(frozen=True)
class AnchorSet:
    """A versioned, read-only table of anchors keyed by environment id."""

    version: str
    anchors: Mapping[str, Anchor]

    def __getitem__(self, env_id: str) -> Anchor:
        try:
            return self.anchors[env_id]
        except KeyError:
            known = ", ".join(sorted(self.anchors))
            raise KeyError(
                f"no anchors for environment {env_id!r} in anchors version {self.version}; "
                f"known ids: {known}"
            ) from None

    def __contains__(self, env_id: object) -> bool:
        return env_id in self.anchors

    def __iter__(self):
        return iter(self.anchors)

    def __len__(self) -> int:
        return len(self.anchors)


def parse_anchors(text: str) -> AnchorSet:
    """Parse the TOML text of an anchors file (``version`` plus one ``[anchors."<id>"]`` table
    per environment with keys lo, hi, source and either threshold or threshold_unusable, the
    reason no solved threshold is given)."""
    data = tomllib.loads(text)
    if "version" not in data:
        raise ValueError("anchors file: missing top-level key 'version'")
    anchors = {}
    for env_id, entry in data.get("anchors", {}).items():
        missing = {"lo", "hi", "source"} - set(entry)
        if "threshold" not in entry and "threshold_unusable" not in entry:
            missing.add("threshold")
        if missing:
            raise ValueError(f"anchors file: entry {env_id!r} lacks {sorted(missing)}")
        anchors[env_id] = Anchor(
            env_id=env_id,
            lo=float(entry["lo"]),
            hi=float(entry["hi"]),
            threshold=float(entry["threshold"]) if "threshold" in entry else None,
            source=str(entry["source"]),
            threshold_unusable=str(entry["threshold_unusable"]) if "threshold_unusable" in entry else None,
        )
    return AnchorSet(version=str(data["version"]), anchors=anchors)


@functools.cache
def load_anchors() -> AnchorSet:
    """The anchors shipped with the package (``jaxrl_suite/evaluation/anchors.toml``)."""
    text = resources.files(__package__).joinpath(ANCHORS_RESOURCE).read_text(encoding="utf-8")
    return parse_anchors(text)


def _resolve(anchor: str | Anchor) -> Anchor:
    return load_anchors()[anchor] if isinstance(anchor, str) else anchor


def min_max(returns: ArrayLike, anchor: str | Anchor | Sequence[str | Anchor]) -> np.ndarray:
    """Min-max normalise raw returns: g = (R - lo) / (hi - lo).

    ``anchor`` is an environment id (looked up in the packaged anchors), an :class:`Anchor`,
    or a sequence of them, one per entry of the last axis of ``returns`` (the tasks axis of
    a (runs, tasks) score array).
    """
    returns = np.asarray(returns, dtype=float)
    if isinstance(anchor, (str, Anchor)):
        resolved = _resolve(anchor)
        return (returns - resolved.lo) / (resolved.hi - resolved.lo)
    resolved = [_resolve(a) for a in anchor]
    if returns.ndim == 0 or returns.shape[-1] != len(resolved):
        raise ValueError(
            f"min_max: {len(resolved)} anchors given for a last axis of shape {returns.shape}"
        )
    lo = np.array([a.lo for a in resolved])
    hi = np.array([a.hi for a in resolved])
    return (returns - lo) / (hi - lo)


@dataclasses.dataclass(frozen=True)
class PercentilePool:
    """Record of the pool a percentile normalisation was computed from."""

    p5: float
    p95: float
    size: int

    def apply(self, returns: ArrayLike) -> np.ndarray:
        """(R - p5) / (p95 - p5)."""
        return (np.asarray(returns, dtype=float) - self.p5) / (self.p95 - self.p5)


def percentile_pool(pool: ArrayLike) -> PercentilePool:
    """The 5th and 95th percentiles of every value in ``pool`` (numpy's default linear
    interpolation between order statistics, i.e. Hyndman & Fan type 7)."""
    values = np.asarray(pool, dtype=float).ravel()
    if values.size == 0 or not np.isfinite(values).all():
        # Dropping NaNs (diverged runs) would silently shift the percentiles.
        raise ValueError("percentile normalisation: the pool must be non-empty and finite")
    p5, p95 = np.percentile(values, [5.0, 95.0])
    if not p95 > p5:
        raise ValueError(
            f"percentile normalisation: p95 ({p95}) equals p5 ({p5}); the pool of "
            f"{values.size} values is (nearly) constant"
        )
    return PercentilePool(p5=float(p5), p95=float(p95), size=int(values.size))


def percentile_normalize(returns: ArrayLike, pool: ArrayLike) -> tuple[np.ndarray, PercentilePool]:
    """Percentile normalisation (Tang & Zhang 2026; Adkins et al. 2024).

    g = (R - p5) / (p95 - p5), with p5 and p95 the 5th and 95th percentiles of ``pool``
    (typically every return of every configuration and algorithm on one environment).
    Returns the normalised values and the :class:`PercentilePool` (p5, p95, pool size) so the
    same map can be reapplied and reported.
    """
    record = percentile_pool(pool)
    return record.apply(returns), record
