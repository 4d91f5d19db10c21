"""T2: prescribed singular values 2⁻ʲ, rotating factors (Ceruti & Lubich 2022; integrators.md §5).

    A(t) = exp(tW₁) eᵗ D exp(tW₂)ᵀ,   D = diag(2⁻¹, …, 2⁻ⁿ),   W₁, W₂ skew-symmetric,

so ``σⱼ(t) = eᵗ 2⁻ʲ`` and the best rank-``r`` error is ``eᵗ 2⁻ʳ √((1 − 4^{−(n−r)})/3)``.

Forms (all four are used by the studies):

* ``form="explicit"`` — explicit data, ``F(t, Y) = Ȧ(t) = W₁A + A + AW₂ᵀ`` independent of ``Y``
  (``dlra.DataField``; exact increments).  Normal component ``ε ≠ 0``: errors fall to a plateau
  near the best-approximation error.
* ``form="ode"`` — ``F(Y) = (W₁ + ½I) Y + Y (W₂ + ½I)ᵀ`` as a ``dlra.LinearField`` with terms
  ``[(W₁ + ½I, None), (None, W₂ + ½I)]`` (convention ``F = Σ c_k A_k Y B_kᵀ``).  ``F(Y)`` is tangent
  to the rank-``r`` manifold, so ``ε = 0`` for the DLRA of rank ``r`` started from ``D_r``.
* ``exact_rank=r`` — replace ``D`` by ``D_r = diag(2⁻¹, …, 2⁻ʳ, 0, …)``: the solution has rank ``r``
  exactly (exactness tests with the explicit form, order tests with the ODE form).
* ``cubic=γ`` (ODE form only) — add the damping term ``−γ Y Yᵀ Y``, still tangent (``ε = 0``) but
  nonlinear; reference by a full DOP853 solve.  The projector-splitting schemes stay exact up to
  their substep solver's error (measured: KSL with RK4 substeps falls 16× per halving of h, the
  RK4 error), while the BUG schemes show their first-order error.
* ``source=δ`` (ODE form only) — add a constant source ``δ·G`` (``G`` a normalised random rank-4
  matrix): a normal component of size ~δ; exact solution ``e^{tB₁}(A₀ − X)e^{tB₂ᵀ} + X`` with
  ``B₁X + XB₂ᵀ = −δG`` (``scipy.linalg.solve_sylvester``).  Used for the orders of KSL (1) and
  Strang (2), which are exact on the tangent forms.

``w_scale``: spectral norm of ``W_i`` (default: 1 for the ODE forms, the calibration of §7.2; the
raw ``W̃ − W̃ᵀ`` with ‖W‖₂ ≈ 19 for the explicit form, the calibration of §7.1).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.linalg import expm, solve_sylvester

from ._base import MatrixProblem, as_backend, skew

__all__ = ["PrescribedSingularValues"]

_RAW = object()


class PrescribedSingularValues(MatrixProblem):
    """T2 in its explicit, ODE, exact-rank and cubic forms (see the module docstring)."""

    label = "T2"

    def __init__(
        self,
        n: int = 100,
        *,
        form: str = "explicit",
        exact_rank: int | None = None,
        cubic: float = 0.0,
        source: float = 0.0,
        w_scale: float | object | None = _RAW,
        T: float = 1.0,
        seed: int = 0,
        full: bool = False,
    ) -> None:
        super().__init__()
        del full  # n = 100 is already the published size
        if form not in ("explicit", "ode"):
            raise ValueError(f"form must be 'explicit' or 'ode', got {form!r}")
        if (cubic or source) and form != "ode":
            raise ValueError("cubic damping and source terms need form='ode'")
        if cubic and source:
            raise ValueError("choose either cubic damping or a source term")
        rng = np.random.default_rng(seed)
        self.n = self.m = int(n)
        self.T = float(T)
        self.form = form
        self.exact_rank = exact_rank
        self.cubic = float(cubic)
        if w_scale is _RAW:
            w_scale = None if form == "explicit" else 1.0
        self.w_scale = w_scale
        self.W1 = skew(n, rng, scale=w_scale)  # type: ignore[arg-type]
        self.W2 = skew(n, rng, scale=w_scale)  # type: ignore[arg-type]
        d = 2.0 ** -np.arange(1, n + 1)
        if exact_rank is not None:
            d[exact_rank:] = 0.0
        self.d = d
        self.source = float(source)
        # source term δ·G, G a normalised random rank-4 matrix: a small normal component
        g = rng.standard_normal((n, 4)) @ rng.standard_normal((4, n))
        self.G = self.source * g / np.linalg.norm(g)
        self.X = solve_sylvester(self.B1, self.B2.T, -self.G) if source else None
        self.known_rank = exact_rank if not source else None
        self.has_exact = self.cubic == 0.0
        self.exact_substeps = self.cubic == 0.0 and self.source == 0.0
        parts = (
            [form]
            + ([f"rank {exact_rank}"] if exact_rank else [])
            + ([f"cubic {cubic:g}"] if cubic else [])
            + ([f"source {source:g}"] if source else [])
        )
        self.name = "prescribed(" + ", ".join(parts) + ")"
        self._q = lru_cache(maxsize=256)(self._rotations)

    def _rotations(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        return expm(t * self.W1), expm(t * self.W2)

    def initial(self) -> np.ndarray:
        return np.diag(self.d)

    def exact(self, t: float) -> np.ndarray:
        if self.cubic:
            raise NotImplementedError("the cubic form has no closed form; use solution(t)")
        q1, q2 = self._q(float(t))
        if self.X is not None:  # A(t) = e^{tB₁}(A₀ − X)e^{tB₂ᵀ} + X with B₁X + XB₂ᵀ = −G
            e1, e2 = q1 * np.exp(t / 2), q2 * np.exp(t / 2)
            return e1 @ (np.diag(self.d) - self.X) @ e2.T + self.X
        return (q1 * (np.exp(t) * self.d)) @ q2.T

    def derivative(self, t: float) -> np.ndarray:
        """``Ȧ(t) = W₁A + A + AW₂ᵀ`` (explicit form)."""
        a = self.exact(t)
        return self.W1 @ a + a + a @ self.W2.T

    @property
    def B1(self) -> np.ndarray:
        """``W₁ + ½I`` (ODE form, left operator)."""
        return self.W1 + 0.5 * np.eye(self.n)

    @property
    def B2(self) -> np.ndarray:
        """``W₂ + ½I`` (ODE form, right operator: ``F = B₁Y + YB₂ᵀ``)."""
        return self.W2 + 0.5 * np.eye(self.n)

    def rhs(self, t: float, A: np.ndarray) -> np.ndarray:
        if self.form == "explicit":
            return self.derivative(t)
        out = self.B1 @ A + A @ self.B2.T + self.G
        if self.cubic:
            out = out - self.cubic * (A @ (A.T @ A))
        return out

    def field(self, backend: str = "numpy", device: str | None = None) -> Any:
        import dlra

        if self.form == "explicit":
            return dlra.DataField(
                lambda t: as_backend(self._memo("A", t, self.exact), backend, device),
                dA=lambda t: as_backend(self._memo("dA", t, self.derivative), backend, device),
            )
        b1, b2 = (as_backend(b, backend, device) for b in (self.B1, self.B2))
        if self.source:
            gu, gs, gvh = np.linalg.svd(self.G)
            G = dlra.LowRankMatrix(
                *(as_backend(x, backend, device) for x in (gu[:, :4], np.diag(gs[:4]), gvh[:4].T))
            )
            return dlra.LinearField([(b1, None), (None, b2)], source=lambda t: G)
        if not self.cubic:
            return dlra.LinearField([(b1, None), (None, b2)])
        gamma = self.cubic

        def f(t: float, Y: Any) -> Any:
            return b1 @ Y + Y @ b2.T - gamma * (Y @ (Y.T @ Y))

        return f

    def best_error(self, rank: int, t: float | None = None) -> float:
        """Closed form ``eᵗ ‖D − D_r‖_F`` (orthogonal factors keep the singular values eᵗ dⱼ)."""
        t = self.T if t is None else t
        if self.cubic or self.source:
            return super().best_error(rank, t)
        return float(math.exp(t) * np.linalg.norm(self.d[rank:]))
