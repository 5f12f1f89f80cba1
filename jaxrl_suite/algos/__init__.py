"""The algorithm registry: name -> Algorithm (see base.py for the contract).

Every module of this package except the shared `base` and `common` defines algorithms, and an
`Algorithm` registers itself when it is constructed: importing the modules fills the registry.
"""

import importlib
import pkgutil

from jaxrl_suite.algos.base import REGISTRY, Algorithm, Preset

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "common"):
        importlib.import_module(f"{__name__}.{_module.name}")

ALGORITHMS: dict[str, Algorithm] = REGISTRY

__all__ = ["ALGORITHMS", "Algorithm", "Preset"]
