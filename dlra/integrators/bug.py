"""Fixed-rank basis-update & Galerkin integrator ("bug")."""

from __future__ import annotations

from .._workspace import product_scratch
from ..lowrank import LowRankMatrix
from .base import Integrator, StepContext, register


@register
class BUG(Integrator):
    """The unconventional basis-update & Galerkin (BUG) integrator of Ceruti & Lubich (BIT 62, 2022).

    K-step from ``U₀S₀`` and L-step from ``V₀S₀ᴴ`` (independent, parallelisable) give new bases
    ``U₁ = orth(K₁)``, ``V₁ = orth(L₁)``; then a *forward* Galerkin step
    ``Ṡ = U₁ᴴ F(t, U₁ S V₁ᴴ) V₁`` from ``(U₁ᴴU₀) S₀ (V₁ᴴV₀)ᴴ``.

    Order 1; exact for explicit rank-r data; robust to small singular values; preserves
    (anti-)symmetry when F does; no backward substep (stable for dissipative problems); does *not*
    conserve the norm of Schrödinger-type problems (drift O(h)).  Fixed rank.  Cost: three substep
    solves, two QRs of n × r, m × r.
    """

    name = "bug"
    order = 1
    exact_for_rank_r_data = True

    def _step(self, ctx: StepContext, Y: LowRankMatrix, t: float, h: float) -> LowRankMatrix:
        be = Y.backend
        t1 = t + h
        U0, S0, V0 = Y
        U1, _ = ctx.orth(ctx.k_step(V0, product_scratch(U0, S0), t, t1, consume=True))
        V1, _ = ctx.orth(ctx.l_step(U0, product_scratch(V0, be.H(S0)), t, t1, consume=True))
        S_start = be.inner(U1, U0) @ S0 @ be.inner(V0, V1)
        S1 = ctx.s_step(U1, V1, S_start, t, t1)
        return LowRankMatrix(U1, S1, V1, check=False)
