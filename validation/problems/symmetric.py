"""Symmetry test problem (integrators.md §6, row 12): a symmetric nonlinear matrix ODE.

    Ȧ = B A + A Bᵀ + γ A²,   A(0) = U S Uᵀ  (symmetric, rank r),

with ``B = W + ½I`` (``W`` skew, ‖W‖₂ = 1) and ``γ = 0.1``.  If ``A`` is symmetric so is ``F(A)``,
hence the exact solution stays symmetric; the BUG-type integrators keep ``Yₙ = Yₙᵀ`` to round-off,
the projector-splitting integrator does not.  Reference by a full DOP853 solve.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._base import MatrixProblem, as_backend, random_orthonormal, skew

__all__ = ["SymmetricRiccati"]


class SymmetricRiccati(MatrixProblem):
    """See the module docstring.  ``rank``: rank of the symmetric start (singular values 2⁻ʲ)."""

    label = "S"

    def __init__(
        self,
        n: int = 60,
        *,
        rank: int = 6,
        gamma: float = 0.1,
        T: float = 1.0,
        seed: int = 0,
        full: bool = False,
    ) -> None:
        super().__init__()
        n = 100 if full and n == 60 else int(n)
        rng = np.random.default_rng(seed)
        self.n = self.m = n
        self.T = float(T)
        self.gamma = float(gamma)
        self.B = skew(n, rng, scale=1.0) + 0.5 * np.eye(n)
        u = random_orthonormal(n, rank, rng)
        self.A0 = (u * 2.0 ** -np.arange(1, rank + 1)) @ u.T
        self.name = f"symmetric-riccati(gamma={gamma:g})"

    def initial(self) -> np.ndarray:
        return self.A0.copy()

    def rhs(self, t: float, A: np.ndarray) -> np.ndarray:
        return self.B @ A + A @ self.B.T + self.gamma * (A @ A)

    def field(self, backend: str = "numpy", device: str | None = None) -> Any:
        B = as_backend(self.B, backend, device)
        gamma = self.gamma

        def f(t: float, Y: Any) -> Any:
            return B @ Y + Y @ B.T + gamma * (Y @ Y)

        return f

    @staticmethod
    def asymmetry(Y: Any) -> float:
        """``‖Y − Yᵀ‖_F / ‖Y‖_F`` of a ``LowRankMatrix`` (numpy or torch), in factored form."""
        from ._base import _dense_numpy

        U, S, V = (_dense_numpy(x) for x in (Y.U, Y.S, Y.V))
        # with Q an orthonormal basis of range([U, V]): Y = Q a Qᵀ and ‖Y − Yᵀ‖ = ‖a − aᵀ‖
        Q, _ = np.linalg.qr(np.concatenate([U, V], axis=1))
        a = (Q.T @ U) @ S @ (V.T @ Q)
        return float(np.linalg.norm(a - a.T) / max(np.linalg.norm(S), 1e-300))
