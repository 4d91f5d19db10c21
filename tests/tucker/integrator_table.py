"""The Tucker integrators the tests parametrize over, with the order and exactness expected.

``order``: established for matrices (integrators.md §2.6) and measured for Tucker tensors
(``docs/tucker.md``); ``exact``: reproduces explicit data of multilinear rank r.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Spec:
    name: str
    order: int
    exact: bool
    #: the augmented BUGs are proven first order but converge faster on tangent linear problems
    order_is_lower_bound: bool = False
    #: exact on tangent linear fields with exact substeps (projector splitting): order not measurable there
    exact_for_tangent_linear: bool = False
    options: dict[str, Any] = field(default_factory=dict)


SPECS = [
    Spec("ksl", 1, True, exact_for_tangent_linear=True),
    Spec("strang", 2, True, exact_for_tangent_linear=True),
    Spec("bug", 1, True),
    Spec("augmented_bug", 1, True, order_is_lower_bound=True),
    Spec("adaptive_bug", 1, True, order_is_lower_bound=True, options={"tol": 1e-12}),
    Spec("parallel_bug", 1, False),
    Spec("midpoint_bug", 2, False),
    Spec("parallel_bug2", 2, False),
]
BY_NAME = {s.name: s for s in SPECS}
NAMES = [s.name for s in SPECS]

#: band around the declared order that a fitted slope must fall in
ORDER_BAND = 0.25
