"""Projector-splitting integrator, Lie–Trotter ordering K → S → L ("ksl")."""

from __future__ import annotations

from .._workspace import product_scratch
from ..lowrank import LowRankMatrix
from .base import Integrator, StepContext, register


@register
class KSL(Integrator):
    """Projector-splitting integrator of Lubich & Oseledets (BIT 54, 2014), Lie–Trotter order K, S, L.

    Step: K-step ``K̇ = F(t, K V₀ᴴ) V₀`` from ``U₀S₀``, QR ``K₁ = U₁Ŝ``; S-step *backward*
    ``Ṡ = −U₁ᴴ F(t, U₁ S V₀ᴴ) V₀`` from ``Ŝ``; L-step ``L̇ = F(t, U₁ Lᴴ)ᴴ U₁`` from ``V₀S̃ᴴ``, QR
    ``L₁ = V₁R``, ``S₁ = Rᴴ``.  All substeps on ``[t₀, t₁]``.

    Order 1; exact for explicitly given data of rank r (and for tangent linear fields with exact
    substeps); robust to small singular values (Kieri, Lubich & Walach, SINUM 54, 2016); each substep
    conserves norm and energy of Schrödinger-type fields (up to the substep solver).  Fixed rank;
    does not preserve symmetry.  The backward S-step can be unstable for strongly dissipative
    problems — prefer a BUG integrator there.  Cost: three substep solves and two QRs of n × r.
    """

    name = "ksl"
    order = 1
    exact_for_rank_r_data = True

    def _step(self, ctx: StepContext, Y: LowRankMatrix, t: float, h: float) -> LowRankMatrix:
        return lie_step(ctx, Y, t, t + h)


def lie_step(ctx: StepContext, Y: LowRankMatrix, t0: float, t1: float) -> LowRankMatrix:
    """One K → S → L step on ``[t0, t1]``."""
    be = Y.backend
    U0, S0, V0 = Y
    U1, S_hat = ctx.orth(ctx.k_step(V0, product_scratch(U0, S0), t0, t1, consume=True))
    S_tilde = ctx.s_step(U1, V0, S_hat, t0, t1, sign=-1.0)
    V1, R = ctx.orth(ctx.l_step(U1, product_scratch(V0, be.H(S_tilde)), t0, t1, consume=True))
    return LowRankMatrix(U1, be.H(R), V1, check=False)
