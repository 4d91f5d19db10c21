"""Second-order robust parallel integrator ("parallel_bug2")."""

from __future__ import annotations

from typing import Any, ClassVar

from .._workspace import product_scratch
from ..lowrank import LowRankMatrix
from .base import Integrator, StepContext, block_core, pad_core, register


@register
class ParallelBUG2(Integrator):
    """Second-order parallel integrator of J. Kusch (arXiv:2403.02834, 2024).

    Pre-augmentation with ``F₀ = F(t₀, Y₀)``: ``Û₀ = [U₀, new directions of F₀V₀]``, ``V̂₀`` likewise
    (2r).  Then, in parallel from ``Y₀`` in these bases: K-step (n × 2r), L-step (m × 2r) and
    Galerkin S-step (2r × 2r).  New directions ``Ũ₁`` of ``K̂₁`` outside ``Û₀`` (and ``Ṽ₁``); core
    ``[[S̄₁, L̂₁ᴴṼ₁], [Ũ₁ᴴK̂₁, 0]]`` (4r × 4r); truncation to the rank of ``Y₀`` (or ``rank``/``tol``;
    Kusch uses ϑ = c·h³).  ``variant="3r"`` augments only by the projections of ``K̂₁``, ``L̂₁`` onto
    the predicted bases ``U⋆ = orth(U₀S₀ + h/2·F₀V₀)``, ``V⋆`` (3r × 3r core).

    Order 2, robust, with improved dependence on the normal component; norm preserved up to the
    truncation and O(h⁴).  Not exact for rank-r data.  Needs ``F`` at a point (``dA`` for a
    :class:`~dlra.DataField`).  Cost: one extra projected evaluation, three parallel substep solves
    of width 2r, four augmenting QRs, one 4r × 4r SVD.
    """

    name = "parallel_bug2"
    order = 2
    truncates = True
    options: ClassVar[dict[str, Any]] = {"variant": "4r"}
    choices: ClassVar[dict[str, tuple[Any, ...]]] = {"variant": ("4r", "3r")}

    def _step(self, ctx: StepContext, Y: LowRankMatrix, t: float, h: float) -> LowRankMatrix:
        be = Y.backend
        t0, t1 = t, t + h
        U0, S0, V0 = Y
        US0, VS0 = product_scratch(U0, S0), product_scratch(V0, be.H(S0))
        F0V, F0hU = ctx.right_left_at(t0, U0, S0, V0)
        three = self.config["variant"] == "3r"
        if three:
            U_star, _ = ctx.orth(US0 + (h / 2) * F0V)
            V_star, _ = ctx.orth(VS0 + (h / 2) * F0hU)
        _, U0_hat = ctx.augment(U0, F0V)
        _, V0_hat = ctx.augment(V0, F0hU)
        del F0V, F0hU
        ru, rv = be.shape(U0_hat)[1], be.shape(V0_hat)[1]
        S0_pad = pad_core(S0, ru, rv)
        # one side after the other; each K/L block is dropped once its small products are taken.
        # Û₀ S₀,pad = [U₀S₀, 0] (U₀ leads Û₀), so the starting blocks are padded, not multiplied.
        # K₀ = Û₀ S₀,pad V̂₀ᴴ V̂₀ is n × r̂_V and L₀ is m × r̂_U (the widths differ when F₀ adds
        # directions on one side only, as a one-sided field does)
        K1 = ctx.k_step(V0_hat, pad_core(US0, be.shape(US0)[0], rv), t0, t1, consume=True)
        del US0
        if three:
            K_aug = K1 @ (be.H(V0_hat) @ V_star)
            U_new, U_hat = ctx.augment(U0_hat, K_aug, consume=True)
            del K_aug
            bottom_left = be.inner(U_new, K1)
        else:  # Ũ₁ᴴK̂₁ from the augmentation's small factors: K̂₁ is handed over to it
            U_new, U_hat, bottom_left = ctx.augment(U0_hat, K1, consume=True, coefficients=True)
        del K1, U_new
        L1 = ctx.l_step(U0_hat, pad_core(VS0, be.shape(VS0)[0], ru), t0, t1, consume=True)
        del VS0
        if three:
            L_aug = L1 @ (be.H(U0_hat) @ U_star)
            V_new, V_hat = ctx.augment(V0_hat, L_aug, consume=True)
            del L_aug
            top_right = be.inner(L1, V_new)
        else:
            V_new, V_hat, coef = ctx.augment(V0_hat, L1, consume=True, coefficients=True)
            top_right = be.H(coef)  # L̂₁ᴴṼ₁
            del coef
        del L1, V_new
        S_bar = ctx.s_step(U0_hat, V0_hat, S0_pad, t0, t1)
        S_hat = block_core(S_bar, top_right, bottom_left)
        return ctx.truncate(U_hat, S_hat, V_hat, self.rank_control(Y.rank))
