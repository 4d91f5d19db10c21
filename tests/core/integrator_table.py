"""The one list of matrix integrators the tests parametrize over, with what theory says of each.

``order``: the order established in the literature (§2.6 of integrators.md); ``exact``: reproduces
explicitly given data of exact rank r; ``options``: what the method needs to run in the tests
(a tolerance for the rank-adaptive ones far below the data's singular values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Spec:
    name: str
    order: int
    exact: bool
    adaptive: bool = False
    #: the augmented BUGs are proven first order but converge faster on tangent linear problems
    #: (integrators.md §2.5.3): the order test only bounds their slope from below
    order_is_lower_bound: bool = False
    options: dict[str, Any] = field(default_factory=dict)


SPECS = [
    Spec("ksl", 1, True),
    Spec("strang", 2, True),
    Spec("bug", 1, True),
    Spec("augmented_bug", 1, True, order_is_lower_bound=True),
    Spec("adaptive_bug", 1, True, adaptive=True, order_is_lower_bound=True, options={"tol": 1e-12}),
    # parallel_bug runs in its fixed-rank mode here (rank-adaptive runs: tests/core/test_adaptive.py)
    Spec("parallel_bug", 1, False),
    Spec("midpoint_bug", 2, False),
    Spec("parallel_bug2", 2, False),
]
BY_NAME = {s.name: s for s in SPECS}
NAMES = [s.name for s in SPECS]

#: band around the declared order that a fitted slope must fall in
ORDER_BAND = 0.25
