"""Augmented BUG step (shared by the rank-adaptive and fixed-rank augmented BUG integrators)."""

from __future__ import annotations

from typing import Any

from .._workspace import product_scratch
from ..lowrank import LowRankMatrix
from .base import Integrator, StepContext, pad_core, register


def augmented_galerkin(
    ctx: StepContext, Y: LowRankMatrix, t0: float, t1: float
) -> tuple[Any, Any, Any]:
    """K- and L-steps on ``[t0, t1]``, bases augmented to ``[U₀, Ũ]``, ``[V₀, Ṽ]`` (≤ 2r) and the
    Galerkin step in them from the exact representation of ``Y``.  Returns ``(Û, Ŝ₁, V̂)``
    untruncated."""
    be = Y.backend
    U0, S0, V0 = Y
    # one side after the other, each K/L block handed to its augmentation: the working set is
    # the finished side's basis plus the other side's substep
    K1 = ctx.k_step(V0, product_scratch(U0, S0), t0, t1, consume=True)
    U_hat = ctx.augment(U0, K1, consume=True)[1]  # (the new directions alone: not kept)
    del K1
    L1 = ctx.l_step(U0, product_scratch(V0, be.H(S0)), t0, t1, consume=True)
    V_hat = ctx.augment(V0, L1, consume=True)[1]
    del L1
    # U₀ is the leading block of Û, so Ûᴴ U₀ S₀ V₀ᴴ V̂ is S₀ padded with zeros: Y exactly.
    S_start = pad_core(S0, be.shape(U_hat)[1], be.shape(V_hat)[1])
    S1 = ctx.s_step(U_hat, V_hat, S_start, t0, t1)
    return U_hat, S1, V_hat


@register
class AugmentedBUG(Integrator):
    """Augmented BUG truncated back to a fixed rank ("augmented_bug").

    The rank-adaptive BUG step of Ceruti, Kusch & Lubich (BIT 62, 2022) — K/L-steps, bases
    augmented by the old ones, Galerkin step on ≤ 2r — followed by truncation to rank ``rank``
    (default: the incoming rank) instead of a tolerance.  Order 1 (proven; order 2 is sometimes
    observed on linear problems, not guaranteed); exact for explicit rank-r data; robust;
    symmetry preserving.  Cost: as the BUG plus a Galerkin step of size 2r and an SVD of 2r × 2r.
    """

    name = "augmented_bug"
    order = 1
    exact_for_rank_r_data = True
    truncates = True

    def _step(self, ctx: StepContext, Y: LowRankMatrix, t: float, h: float) -> LowRankMatrix:
        U_hat, S1, V_hat = augmented_galerkin(ctx, Y, t, t + h)
        return ctx.truncate(U_hat, S1, V_hat, self.rank_control(Y.rank))
