"""Rank-adaptive BUG integrator ("adaptive_bug")."""

from __future__ import annotations

from ..lowrank import LowRankMatrix
from .augmented_bug import augmented_galerkin
from .base import Integrator, StepContext, register


@register
class AdaptiveBUG(Integrator):
    """Rank-adaptive BUG of Ceruti, Kusch & Lubich (BIT 62, 2022, arXiv:2104.05247).

    K- and L-steps give ``K₁``, ``L₁``; bases ``Û = [U₀, Ũ]`` ⊇ range(K₁, U₀) and ``V̂`` (≤ 2r
    columns); Galerkin step ``Ṡ = Ûᴴ F(t, Û S V̂ᴴ) V̂`` from the exact representation of ``Y₀``;
    truncation of ``Û Ŝ₁ V̂ᴴ`` to the smallest rank whose discarded Frobenius tail is ≤ ϑ =
    ``tol + rtol·‖Ŝ₁‖``, within ``[min_rank, max_rank]``.

    Order 1 with error ``c₀δ + c₁ε + c₂h + c₃nϑ`` (choose ϑ ≲ h²); exact for explicit rank-r data
    (ϑ below σ_r); robust to small singular values; preserves symmetry; for norm-conserving fields
    ``|‖Y₁‖ − ‖Y₀‖| ≤ ϑ`` per step, for Schrödinger-type fields the energy up to ``Cϑ``, for gradient
    flows the energy decreases up to ``Cϑ`` — each with a substep solver sharing the property
    (``"exact"``).  Cost: two substep solves on n × r and m × r, one on 2r × 2r, two augmenting QRs
    and one 2r × 2r SVD.
    """

    name = "adaptive_bug"
    order = 1
    rank_adaptive = True
    exact_for_rank_r_data = True
    truncates = True
    requires_tolerance = True

    def _step(self, ctx: StepContext, Y: LowRankMatrix, t: float, h: float) -> LowRankMatrix:
        U_hat, S1, V_hat = augmented_galerkin(ctx, Y, t, t + h)
        return ctx.truncate(U_hat, S1, V_hat, self.control)
