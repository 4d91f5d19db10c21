"""T3: Sylvester / heat-type linear matrix ODE, with and without a source (integrators.md §5 T3).

    Ȧ = L A + A Lᵀ + C,   L = κ Δx⁻² tridiag(1, −2, 1)  (zero Dirichlet, Δx = 1/(n+1)),

exact solution ``A(t) = e^{tL}(A₀ − X)e^{tL}ᵀ + X`` with ``LX + XLᵀ = −C``
(``scipy.linalg.solve_continuous_lyapunov``); without source (``C = 0``) ``A(t) = e^{tL}A₀e^{tL}ᵀ``
keeps the rank of ``A₀`` (rank 2 here, built from smooth functions that are *not* eigenvectors of
``L``, so the bases do move).  Stiff: ``‖L‖₂ ≈ 4κ/Δx²``; the defaults ``n = 64``, ``T = 0.01``
follow the calibration of §7.4.  As a ``dlra.LinearField`` with terms ``[(L, None), (None, L)]``
and, with source, ``source = lambda t: C`` (a rank-1 ``LowRankMatrix``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.linalg import solve_continuous_lyapunov

from ._base import MatrixProblem, as_backend

__all__ = ["HeatEquation"]


class HeatEquation(MatrixProblem):
    """T3 (see module docstring).  ``source``: size ``‖C‖_F`` of the rank-1 source (0: none)."""

    label = "T3"
    has_exact = True

    def __init__(
        self,
        n: int = 64,
        *,
        source: float = 0.0,
        kappa: float = 1.0,
        T: float = 0.01,
        full: bool = False,
    ) -> None:
        super().__init__()
        n = 256 if full and n == 64 else int(n)
        self.n = self.m = n
        self.T = float(T)
        self.kappa = float(kappa)
        self.source_norm = float(source)
        dx = 1.0 / (n + 1)
        x = np.arange(1, n + 1) * dx
        self.x = x
        self.L = (kappa / dx**2) * (
            np.diag(-2.0 * np.ones(n)) + np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)
        )
        self._lam, self._q = np.linalg.eigh(self.L)
        # rank-2 initial data from smooth functions vanishing at the boundary, not eigenvectors of L
        f1, g1 = x * (1 - x) * np.exp(x), np.sin(np.pi * x) + 4 * x**2 * (1 - x)
        f2, g2 = x**2 * (1 - x), np.exp(-50 * (x - 0.3) ** 2) * x * (1 - x)
        a0 = np.outer(f1, g1) + np.outer(f2, g2)
        self.A0 = a0 / np.linalg.norm(a0)
        c = np.exp(-100 * (x - 0.6) ** 2)
        c /= np.linalg.norm(c)
        self.c = c  # C = source · c cᵀ, ‖C‖_F = source
        self.C = self.source_norm * np.outer(c, c)
        self.X = solve_continuous_lyapunov(self.L, -self.C) if source else np.zeros((n, n))
        self.known_rank = None if source else 2
        self.exact_substeps = not source
        self.name = f"heat(source={source:g})" if source else "heat"

    @property
    def stiffness(self) -> float:
        """Spectral radius of the linear part ``A ↦ LA + ALᵀ`` (for explicit substep counts)."""
        return 2.0 * float(np.max(np.abs(self._lam)))

    def _expL(self, t: float) -> np.ndarray:
        return (self._q * np.exp(t * self._lam)) @ self._q.T

    def initial(self) -> np.ndarray:
        return self.A0.copy()

    def exact(self, t: float) -> np.ndarray:
        e = self._expL(float(t))
        return e @ (self.A0 - self.X) @ e.T + self.X

    def rhs(self, t: float, A: np.ndarray) -> np.ndarray:
        return self.L @ A + A @ self.L.T + self.C

    def field(self, backend: str = "numpy", device: str | None = None) -> Any:
        import dlra

        L = as_backend(self.L, backend, device)
        if not self.source_norm:
            return dlra.LinearField([(L, None), (None, L)])
        c = as_backend(self.c[:, None], backend, device)
        s = as_backend(np.array([[self.source_norm]]), backend, device)
        C = dlra.LowRankMatrix(c, s, c)
        return dlra.LinearField([(L, None), (None, L)], source=lambda t: C)

    def rk4_steps(self, h: float) -> int:
        """RK4 sub-steps per substep keeping ``h_sub · stiffness`` in RK4's stability interval."""
        return max(1, math.ceil(h * self.stiffness / 2.5))
