"""Fixed-rank Tucker basis-update & Galerkin integrator ("bug")."""

from __future__ import annotations

from .base import TuckerIntegrator, TuckerStepContext, register_tucker
from .modes import mode_factor, multi_mode_product
from .tensor import TuckerTensor

__all__ = ["TuckerBUG"]


@register_tucker
class TuckerBUG(TuckerIntegrator):
    """Tucker BUG integrator of fixed multilinear rank (Ceruti & Lubich, BIT 62, 2022, §5).

    For every mode i (independently, parallelisable), from ``(C⁰, U⁰)``: factor
    ``C⁰ = Gᵢ ×ᵢ Sᵢ``, K-step from ``Uᵢ⁰Sᵢ`` with the old bases, ``Uᵢ¹ = orth(Kᵢ(t₁))``,
    ``Mᵢ = Uᵢ¹ᴴUᵢ⁰``.  Then the forward Galerkin step ``Ċ = F(t, C ×ⱼ Uⱼ¹) ×ⱼ Uⱼ¹ᴴ`` from
    ``C⁰ ×ⱼ Mⱼ``.

    Order 1; exact for explicit data of multilinear rank (r₁, …, r_d); robust to small singular
    values; no backward substep; preserves symmetries under index permutations when F does; does
    not conserve the norm of Schrödinger-type fields (drift O(h)).  Cost: d substep solves on
    nᵢ × rᵢ blocks and one on the core, d QRs of nᵢ × rᵢ and d of the core unfoldings.
    """

    name = "bug"
    order = 1
    exact_for_rank_r_data = True

    def _step(self, ctx: TuckerStepContext, Y: TuckerTensor, t: float, h: float) -> TuckerTensor:
        be = Y.backend
        t1 = t + h
        C0, U0 = Y.core, list(Y.factors)
        U1, M = [], []
        for i in range(Y.ndim):
            S, G = mode_factor(C0, i)
            Ui, _ = ctx.orth(ctx.mode_step(i, G, U0, U0[i] @ S, t, t1))
            U1.append(Ui)
            M.append(be.inner(Ui, U0[i]))
        C1 = ctx.core_step(U1, multi_mode_product(C0, M, be=be), t, t1)
        return TuckerTensor(C1, U1, check=False)
