"""T1: rotating rank-10 matrix plus a perturbation of size ε (Koch & Lubich 2007; LO14).

    A(t) = Q₁(t) (A₁ + ε eᵗ A₂) Q₂(t)ᵀ,  Q_i(t) = exp(t T_i),  T_i = R_i − R_iᵀ,
    R_i ~ U(0, 1)^{n×n},

``A₁ = [[I₁₀ + ½ U(0,1)^{10×10}, 0], [0, 0]]`` (rank 10), ``A₂ ~ U(0, 1)^{n×n}``.  Explicit data,
``Ȧ = T₁A + AT₂ᵀ + ε eᵗ Q₁A₂Q₂ᵀ``.  With ``ε = 0`` the data have rank exactly 10 and the exact
schemes (KSL, Strang, BUG, adaptive BUG) reproduce them; with ``ε > 0`` the robust error bound
``‖Yₙ − A(tₙ)‖ ≤ C₁ε + C₂hᵖ`` is what the robustness study measures (integrators.md §5 T1).
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.linalg import expm

from ._base import MatrixProblem, as_backend

__all__ = ["RotatingMatrix"]


class RotatingMatrix(MatrixProblem):
    """T1 as explicit data (``dlra.DataField`` with exact increments and derivative).

    Parameters: ``n`` (default 100 — already the papers' size), ``core_rank`` (10), ``eps`` (size of
    the perturbation, default 1e-3), ``T`` (1), ``seed``.
    """

    label = "T1"
    has_exact = True
    exact_substeps = True

    def __init__(
        self,
        n: int = 100,
        *,
        core_rank: int = 10,
        eps: float = 1e-3,
        T: float = 1.0,
        seed: int = 0,
        full: bool = False,
    ) -> None:
        super().__init__()
        del full  # n = 100 is already the published size
        rng = np.random.default_rng(seed)
        self.n = self.m = int(n)
        self.T = float(T)
        self.eps = float(eps)
        self.core_rank = int(core_rank)
        self.name = f"rotating(eps={eps:g})"
        self.known_rank = self.core_rank if self.eps == 0 else None
        r1, r2 = rng.uniform(size=(n, n)), rng.uniform(size=(n, n))
        self.T1, self.T2 = r1 - r1.T, r2 - r2.T
        k = self.core_rank
        self.A1 = np.zeros((n, n))
        self.A1[:k, :k] = np.eye(k) + 0.5 * rng.uniform(size=(k, k))
        self.A2 = rng.uniform(size=(n, n))
        self._q = lru_cache(maxsize=256)(self._rotations)

    def with_eps(self, eps: float) -> RotatingMatrix:
        """The same data (rotations, A₁, A₂ and their caches) with perturbation size ``eps``."""
        other = copy.copy(self)
        other.eps = float(eps)
        other.name = f"rotating(eps={eps:g})"
        other.known_rank = self.core_rank if other.eps == 0 else None
        other._cache = {}
        other._memo_cache = {}
        return other

    def _rotations(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        return expm(t * self.T1), expm(t * self.T2)

    def initial(self) -> np.ndarray:
        return self.exact(self.t0)

    def exact(self, t: float) -> np.ndarray:
        q1, q2 = self._q(float(t))
        return q1 @ (self.A1 + self.eps * np.exp(t) * self.A2) @ q2.T

    def derivative(self, t: float) -> np.ndarray:
        """``Ȧ(t) = T₁A + AT₂ᵀ + ε eᵗ Q₁A₂Q₂ᵀ``."""
        q1, q2 = self._q(float(t))
        a = self.exact(t)
        return self.T1 @ a + a @ self.T2.T + self.eps * np.exp(t) * (q1 @ self.A2 @ q2.T)

    def rhs(self, t: float, A: np.ndarray) -> np.ndarray:
        return self.derivative(t)

    def field(self, backend: str = "numpy", device: str | None = None) -> Any:
        from dlra import DataField

        return DataField(
            lambda t: as_backend(self._memo("A", t, self.exact), backend, device),
            dA=lambda t: as_backend(self._memo("dA", t, self.derivative), backend, device),
        )
