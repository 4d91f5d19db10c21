"""Augmented and rank-adaptive Tucker BUG integrators ("augmented_bug", "adaptive_bug")."""

from __future__ import annotations

from typing import Any

from .base import TuckerIntegrator, TuckerStepContext, register_tucker
from .modes import mode_factor, pad
from .tensor import TuckerTensor

__all__ = ["TuckerAdaptiveBUG", "TuckerAugmentedBUG", "augmented_galerkin"]


def augmented_galerkin(
    ctx: TuckerStepContext, Y: TuckerTensor, t0: float, t1: float
) -> tuple[Any, list[Any]]:
    """K-steps of every mode on ``[t0, t1]``, bases augmented to ``Ûᵢ = [Uᵢ⁰, Ũᵢ]`` (≤ 2rᵢ columns,
    ``Uᵢ⁰`` kept verbatim) and the Galerkin step in them from the zero-padded old core — which
    represents ``Y`` exactly.  Returns the untruncated ``(Ĉ₁, [Û₁, …, Û_d])``."""
    be = Y.backend
    C0, U0 = Y.core, list(Y.factors)
    U_hat = []
    for i in range(Y.ndim):
        S, G = mode_factor(C0, i)
        _, Ui = ctx.augment(U0[i], ctx.mode_step(i, G, U0, U0[i] @ S, t0, t1))
        U_hat.append(Ui)
    C_start = pad(C0, [be.shape(U)[1] for U in U_hat])
    return ctx.core_step(U_hat, C_start, t0, t1), U_hat


@register_tucker
class TuckerAugmentedBUG(TuckerIntegrator):
    """Augmented Tucker BUG truncated back to fixed ranks ("augmented_bug").

    The rank-adaptive step of :class:`TuckerAdaptiveBUG` with the truncation to ranks ``rank``
    (default: the incoming ranks) instead of a tolerance; with ``tol``/``rtol`` it truncates by
    tolerance like ``adaptive_bug``.  Order 1 (proven for the matrix case); exact for explicit data of
    multilinear rank r; robust.  Cost: as ``bug`` plus a Galerkin step on a core of size
    ``Π 2rᵢ`` and d SVDs of its unfoldings.
    """

    name = "augmented_bug"
    order = 1
    exact_for_rank_r_data = True
    truncates = True

    def _step(self, ctx: TuckerStepContext, Y: TuckerTensor, t: float, h: float) -> TuckerTensor:
        C1, U_hat = augmented_galerkin(ctx, Y, t, t + h)
        return ctx.truncate_tucker(C1, U_hat, self.tucker_control(Y.ranks))


@register_tucker
class TuckerAdaptiveBUG(TuckerIntegrator):
    """Rank-adaptive Tucker BUG (Ceruti, Kusch & Lubich, BIT 62, 2022; TTN version Ceruti, Lubich &
    Sulz, SINUM 61, 2023).

    Per mode: K-step from ``Uᵢ⁰Sᵢ`` with the old bases, ``Ûᵢ = [Uᵢ⁰, Ũᵢ] ⊇ range(Kᵢ(t₁), Uᵢ⁰)``
    (≤ 2rᵢ columns).  Galerkin step ``Ċ = F(t, C ×ⱼ Ûⱼ) ×ⱼ Ûⱼᴴ`` from the zero-padded ``C⁰`` (``Y₀``
    exactly).  Truncation of ``Ĉ₁ ×ⱼ Ûⱼ`` by a sequentially truncated HOSVD of the core to the
    smallest ranks whose *total* discarded Frobenius norm is ≤ ϑ = ``tol + rtol·‖Ĉ₁‖``, each rank
    within ``[min_rank, max_rank]`` (per mode, see :mod:`dlra.tucker.truncation`).

    Order 1 with error ``c₀δ + c₁ε + c₂h + c₃nϑ``; exact for explicit data of multilinear rank r
    (ϑ below the smallest unfolding singular value); robust; for norm-conserving fields
    ``|‖Y₁‖ − ‖Y₀‖| ≤ ϑ`` per step with an exact (or norm-conserving) substep solver.  Cost: d
    substep solves on nᵢ × rᵢ, one on a core of ``Π 2rᵢ`` entries, d augmenting QRs and d SVDs of
    core unfoldings.
    """

    name = "adaptive_bug"
    order = 1
    rank_adaptive = True
    exact_for_rank_r_data = True
    truncates = True
    requires_tolerance = True

    def _step(self, ctx: TuckerStepContext, Y: TuckerTensor, t: float, h: float) -> TuckerTensor:
        C1, U_hat = augmented_galerkin(ctx, Y, t, t + h)
        return ctx.truncate_tucker(C1, U_hat, self.tucker_control(Y.ranks))
