"""Action of the exponential of a linear map on a block: ``exp(h·L) X`` for any backend.

Truncated Taylor series with scaling: the interval is split into ``s`` pieces with
``|h|·‖L‖/s ≤ 1`` (``‖L‖`` from an upper bound), and each piece sums Taylor terms until they fall
below round-off relative to the sum.  Needs only applications of ``L``, so it serves tall blocks with
sparse operators (K- and L-steps) as well as small Galerkin systems, on numpy and torch alike.
Reference: Al-Mohy & Higham, SIAM J. Sci. Comput. 33 (2011) — a simplified variant of their scheme.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ._backend import backend_of

_MAX_TERMS = 60


def expm_apply(linear_map: Callable[[Any], Any], x: Any, h: float, norm_bound: float) -> Any:
    """``exp(h·L) x`` where ``linear_map(x) = L x`` and ``‖L‖ ≤ norm_bound``."""
    be = backend_of(x)
    eps = be.eps(x.dtype)
    steps = max(1, math.ceil(abs(h) * norm_bound))
    tau = h / steps
    for _ in range(steps):
        term = x
        total = x
        for k in range(1, _MAX_TERMS + 1):
            term = linear_map(term) * (tau / k)
            total = total + term
            if be.norm(term) <= eps * be.norm(total):
                break
        x = total
    return x
