"""What the theory claims for each integrator: the single table the studies read their expected values from.

Sources are the papers as summarised in ``integrators.md`` (§2.6 summary table, §6 "theory statements
turned into tests"); tolerances are the ones fixed there (order ±0.25 for first order, ±0.3 for second
order; exactness ≤ 1e-12·‖A‖).  Tests pass modified copies of these tables to check that the studies
really fail on a wrong expectation.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CONSERVING",
    "DRIFTING",
    "EXACT",
    "EXACT_TOL",
    "MATRIX_METHODS",
    "NOT_EXACT",
    "NOT_SYMMETRIC",
    "ORDER",
    "ORDER_TOL",
    "SYMMETRIC",
    "TRUNCATING",
    "OrderClaim",
]

#: the eight matrix integrators of ``dlra.solve`` (also the Tucker method names where they exist)
MATRIX_METHODS = (
    "ksl",
    "strang",
    "bug",
    "augmented_bug",
    "adaptive_bug",
    "parallel_bug",
    "midpoint_bug",
    "parallel_bug2",
)

#: accepted deviation of a fitted slope from the claimed order
ORDER_TOL = {1: 0.25, 2: 0.3}


@dataclass(frozen=True)
class OrderClaim:
    """Convergence order ``order``; ``at_least``: only a lower bound is claimed (the method is
    proven first order but may converge faster on a given problem)."""

    order: int
    source: str
    at_least: bool = False

    @property
    def tol(self) -> float:
        return ORDER_TOL.get(self.order, 0.3)

    def describe(self) -> str:
        return f"≥ {self.order - self.tol:g}" if self.at_least else f"{self.order} ± {self.tol:g}"

    def holds(self, slope: float) -> bool:
        if self.at_least:
            return slope >= self.order - self.tol
        return abs(slope - self.order) <= self.tol


ORDER: dict[str, OrderClaim] = {
    "ksl": OrderClaim(1, "Lubich & Oseledets 2014; Kieri, Lubich & Walach 2016"),
    "strang": OrderClaim(2, "observed order 2, no proof (integrators.md §2.1)"),
    "bug": OrderClaim(1, "Ceruti & Lubich 2022"),
    "augmented_bug": OrderClaim(
        1, "proven 1 (Ceruti, Kusch & Lubich 2022); order 2 observed on tangent problems", True
    ),
    "adaptive_bug": OrderClaim(
        1, "proven 1 + nϑ (Ceruti, Kusch & Lubich 2022); order 2 observed with ϑ = h³", True
    ),
    "parallel_bug": OrderClaim(1, "Ceruti, Kusch & Lubich 2024"),
    "midpoint_bug": OrderClaim(2, "Ceruti, Einkemmer, Kusch & Lubich 2024"),
    "parallel_bug2": OrderClaim(2, "Kusch 2024"),
}

#: exact for explicit data of exact rank r (error ≤ EXACT_TOL·‖A‖)
EXACT = frozenset({"ksl", "strang", "bug", "augmented_bug", "adaptive_bug"})
#: claimed NOT exact: error ≫ round-off and decreasing with h
NOT_EXACT = frozenset({"parallel_bug", "midpoint_bug", "parallel_bug2"})
EXACT_TOL = 1e-12

#: preserve symmetry of Y when F does (‖Y − Yᵀ‖ ≤ 1e-13‖Y‖) / claimed to violate it
SYMMETRIC = frozenset({"bug", "augmented_bug", "adaptive_bug"})
NOT_SYMMETRIC = frozenset({"ksl"})

#: conserve norm and energy up to the truncation (n·ϑ) with exact Galerkin substeps
CONSERVING = frozenset({"adaptive_bug"})
#: do not conserve the norm: drift O(h)
DRIFTING = frozenset({"bug", "parallel_bug"})

#: accept a truncation tolerance ϑ (rank-adaptive runs)
TRUNCATING = frozenset({"adaptive_bug", "parallel_bug", "midpoint_bug", "parallel_bug2"})
