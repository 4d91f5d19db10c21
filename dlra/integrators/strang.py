"""Strang symmetrisation of the projector-splitting integrator ("strang")."""

from __future__ import annotations

from .._workspace import product_scratch
from ..lowrank import LowRankMatrix
from .base import Integrator, StepContext, register


@register
class Strang(Integrator):
    """Strang splitting ``Φ^{LSK}_{h/2} ∘ Φ^{KSL}_{h/2}`` of projector splitting (Lubich & Oseledets 2014).

    Merged five-substep form: K on ``[t₀, t½]`` with ``V₀``; S backward on ``[t₀, t½]``; L on the
    full ``[t₀, t₁]`` with ``U½``; S backward on ``[t½, t₁]`` with ``(U½, V₁)``; K on ``[t½, t₁]`` with
    ``V₁`` and a final QR.

    Order 2 observed (no proof in the literature); exact for explicit rank-r data; norm and energy
    conserved substep-wise for Schrödinger-type fields; fixed rank; not symmetry preserving.  Cost:
    five substep solves and three QRs of n × r.
    """

    name = "strang"
    order = 2
    exact_for_rank_r_data = True

    def _step(self, ctx: StepContext, Y: LowRankMatrix, t: float, h: float) -> LowRankMatrix:
        be = Y.backend
        t0, th, t1 = t, t + h / 2, t + h
        U0, S0, V0 = Y
        Uh, S_hat = ctx.orth(ctx.k_step(V0, product_scratch(U0, S0), t0, th, consume=True))
        S_tilde = ctx.s_step(Uh, V0, S_hat, t0, th, sign=-1.0)
        V1, R = ctx.orth(ctx.l_step(Uh, product_scratch(V0, be.H(S_tilde)), t0, t1, consume=True))
        S_back = ctx.s_step(Uh, V1, be.H(R), th, t1, sign=-1.0)
        K_start = product_scratch(Uh, S_back)
        ctx.release(Uh)  # Uh is not used again: one n × r block less during the last K-step
        del Uh
        U1, S1 = ctx.orth(ctx.k_step(V1, K_start, th, t1, consume=True))
        return LowRankMatrix(U1, S1, V1, check=False)
