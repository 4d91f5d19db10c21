"""Second-order midpoint BUG integrator ("midpoint_bug")."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from ..linalg import RankControl
from ..lowrank import LowRankMatrix
from .augmented_bug import augmented_galerkin
from .base import Integrator, StepContext, pad_core, register


@register
class MidpointBUG(Integrator):
    """Midpoint BUG of Ceruti, Einkemmer, Kusch & Lubich (BIT 2024, arXiv:2402.08607).

    Half step: augmented BUG without truncation on ``[t₀, t½]`` → ``Y½`` (2r).  Augmentation with
    ``F(t½, Y½)``: ``Û = [Û½, new directions of F½ V̂½]`` (≤ 4r), likewise ``V̂``; Galerkin step over the
    *full* ``[t₀, t₁]`` from the exact representation of ``Y₀``; truncation to the rank of ``Y₀``
    (or ``rank``, or by ``tol``/``rtol``).  ``variant="3r"`` truncates the half step to the rank r of
    ``Y₀`` first (also when a tolerance truncates the full step) and augments ``[U₀, U½, F½V½]``
    (≤ 3r).

    Order 2 (robust, improved dependence on the normal component: the rank-r modelling error enters
    multiplied by h).  Not exact for rank-r data.  Norm of norm-conserving fields kept up to the
    truncation (Galerkin step with an exact substep solver).  Needs ``F`` at a point: a
    :class:`~dlra.DataField` must provide ``dA``.  Cost: ≈ two augmented BUG steps, Galerkin on ≤ 4r.
    """

    name = "midpoint_bug"
    order = 2
    truncates = True
    options: ClassVar[dict[str, Any]] = {"variant": "4r"}
    choices: ClassVar[dict[str, tuple[Any, ...]]] = {"variant": ("4r", "3r")}

    def _step(self, ctx: StepContext, Y: LowRankMatrix, t: float, h: float) -> LowRankMatrix:
        be = Y.backend
        t0, th, t1 = t, t + h / 2, t + h
        U0, S0, V0 = Y
        U_h, S_h, V_h = augmented_galerkin(ctx, Y, t0, th)
        # F½ V̂½ has directions of rounding-determined content (F applied to directions that Y½
        # barely occupies); keep only those known to ~1e-8 relative accuracy (see augment_basis)
        drop = math.sqrt(be.eps(S0.dtype)) / 100
        if self.config["variant"] == "3r":
            # the half step goes back to rank r, whatever tolerance truncates the full step
            Yh = ctx.truncate(U_h, S_h, V_h, RankControl(rank=Y.rank))
            U_h, S_h, V_h = Yh
            FV, FhU = ctx.right_left_at(th, U_h, S_h, V_h)
            _, U_hat = ctx.augment(U0, be.concat([U_h, FV], axis=1), drop)
            del FV
            _, V_hat = ctx.augment(V0, be.concat([V_h, FhU], axis=1), drop)
            del FhU
        else:
            FV, FhU = ctx.right_left_at(th, U_h, S_h, V_h)
            del S_h
            # each half-step basis is the leading block of its augmented basis (a copy) and is
            # not used again: it is dropped, with the projected operators cached for it and its
            # F½ block, as soon as that basis exists
            _, U_hat = ctx.augment(U_h, FV, drop)
            ctx.release(U_h)
            del FV, U_h
            _, V_hat = ctx.augment(V_h, FhU, drop)
            ctx.release(V_h)
            del FhU, V_h
        # U₀ leads Û (it leads Û½, which leads Û), so the start is S₀ padded with zeros.
        S_start = pad_core(S0, be.shape(U_hat)[1], be.shape(V_hat)[1])
        S1 = ctx.s_step(U_hat, V_hat, S_start, t0, t1)
        return ctx.truncate(U_hat, S1, V_hat, self.rank_control(Y.rank))
