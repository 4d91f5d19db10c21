"""Parallel rank-adaptive BUG integrator with optional step rejection ("parallel_bug")."""

from __future__ import annotations

from typing import Any, ClassVar

from .._workspace import product_scratch
from ..lowrank import LowRankMatrix
from .base import Integrator, StepContext, block_core, register


@register
class ParallelBUG(Integrator):
    """Parallel BUG of Ceruti, Kusch & Lubich ("A parallel rank-adaptive integrator for DLRA", 2024).

    K-, L- and S-steps all start from ``Y₀`` (fully parallel): ``K₁``, ``L₁`` and ``S̄₁`` (Galerkin
    in the old bases).  New directions ``Ũ``, ``Ṽ`` from augmenting ``U₀`` by ``K₁`` (``U₀`` kept
    verbatim); augmented core ``[[S̄₁, L₁ᴴṼ], [ŨᴴK₁, 0]]`` (2r × 2r); truncation by ϑ (``tol``/
    ``rtol``) or to fixed ``rank``.

    Step rejection (``rejection=True``, with ``tol``/``rtol``: without a tolerance it raises): the
    step is redone from ``Y₀`` written in the doubled bases (rank 2r) when the truncated rank
    equals 2r (below ``max_rank``) or when ``h·η > rejection_factor·ϑ`` with ``η = ‖Ũᴴ F(t₀, Y₀)
    Ṽ‖`` — the dropped block.

    Order 1, robust error bound ``c₀δ + c₁ε + c₂h + c₃nϑ``.  *Not* exact for rank-r data and *not*
    norm conserving (the dropped block).  Cost: three independent substep solves on n × r, m × r,
    r × r, two augmenting QRs, one 2r × 2r SVD (plus one projected product with rejection).
    """

    name = "parallel_bug"
    order = 1
    rank_adaptive = True
    truncates = True
    tolerance_options: ClassVar[tuple[str, ...]] = ("rejection",)
    options: ClassVar[dict[str, Any]] = {
        "rejection": False,
        "rejection_factor": 1.0,
        "max_rejections": 3,
    }

    def _step(self, ctx: StepContext, Y: LowRankMatrix, t: float, h: float) -> LowRankMatrix:
        be = Y.backend
        control = self.rank_control(Y.rank)
        reject = bool(self.config["rejection"]) and control.adaptive
        Y0 = Y
        for attempt in range(int(self.config["max_rejections"]) + 1):
            U0, S0, V0 = Y
            t1 = t + h
            # one side after the other: each K/L block (and, without rejection, its new
            # directions) is dropped once the small products are taken
            K1 = ctx.k_step(V0, product_scratch(U0, S0), t, t1, consume=True)
            # Ũ₁ᴴK₁ comes from the augmentation's small factors, so K₁ is handed over to it
            U_new, U_hat, bottom_left = ctx.augment(U0, K1, consume=True, coefficients=True)
            del K1
            if not reject:
                U_new = None
            L1 = ctx.l_step(U0, product_scratch(V0, be.H(S0)), t, t1, consume=True)
            V_new, V_hat, coef = ctx.augment(V0, L1, consume=True, coefficients=True)
            top_right = be.H(coef)  # L₁ᴴṼ₁
            del L1, coef
            if not reject:
                V_new = None
            S_bar = ctx.s_step(U0, V0, S0, t, t1)
            S_hat = block_core(S_bar, top_right, bottom_left)
            Y1 = ctx.truncate(U_hat, S_hat, V_hat, control)
            if not reject or attempt == int(self.config["max_rejections"]):
                return Y1
            r_hat = be.shape(S_hat)[0]
            grew_fully = Y1.rank == r_hat and (control.max_rank is None or r_hat < control.max_rank)
            theta = control.threshold(be.norm(S_hat))
            eta = be.norm(ctx.galerkin(t, product_scratch(U0, S0), V0, U_new, V_new))
            if not grew_fully and not h * eta > self.config["rejection_factor"] * theta:
                return Y1
            if be.shape(U_hat)[1] <= Y.rank and be.shape(V_hat)[1] <= Y.rank:
                return Y1  # the bases cannot grow further (full rank reached)
            ctx.counters.n_rejected += 1
            # redo from Y₀ written in the doubled bases
            U0_, S0_, V0_ = Y0
            S_pad = be.inner(U_hat, U0_) @ S0_ @ be.inner(V0_, V_hat)
            Y = LowRankMatrix(U_hat, S_pad, V_hat, check=False)
        return Y1  # pragma: no cover - loop always returns
