"""What the tuner tests share: a stand-in for jaxrl_suite.spec.Dimension (the fields tuners read)."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Dim:
    name: str
    kind: str
    values: tuple = ()
    low: float = 0.0
    high: float = 0.0
    static: bool = False
