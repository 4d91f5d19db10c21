"""Parallel rank-adaptive Tucker BUG with optional step rejection ("parallel_bug")."""

from __future__ import annotations

from typing import Any, ClassVar

from .._backend import backend_of
from .base import TuckerIntegrator, TuckerStepContext, register_tucker
from .modes import fold, mode_factor, pad, unfold
from .state import admissible_clamp
from .tensor import TuckerTensor

__all__ = ["TuckerParallelBUG", "parallel_core"]


def parallel_core(
    ctx: TuckerStepContext, C0: Any, U0: list[Any], t0: float, t1: float
) -> tuple[Any, list[Any], list[Any]]:
    """The parallel BUG step without truncation.

    Returns ``(Ĉ, Û, Ũ)``: the augmented core, the bases ``Ûᵢ = [Uᵢ⁰, Ũᵢ]`` and the new
    directions ``Ũᵢ``.  Blocks of ``Ĉ`` (old/new per mode): all-old = ``C̄₁`` (Galerkin in the old
    bases); new in mode i only = ``Tenᵢ(Ũᵢᴴ Kᵢ(t₁) Matᵢ(Gᵢ))``; all others zero.
    """
    be = backend_of(C0)
    d = len(U0)
    ranks = be.shape(C0)
    new_dirs, U_hat, blocks = [], [], []
    for i in range(d):
        S, G = mode_factor(C0, i)
        K1 = ctx.mode_step(i, G, U0, U0[i] @ S, t0, t1)
        # Ui_hat = [U0[i], U_new]; Ũᵢᴴ Kᵢ from the augmentation's small factors (Kᵢ handed over)
        U_new, Ui_hat, coef = ctx.augment(U0[i], K1, consume=True, coefficients=True)
        del K1
        new_dirs.append(U_new)
        U_hat.append(Ui_hat)
        blocks.append(fold(coef @ unfold(G, i), i, ranks))
    C_bar = ctx.core_step(U0, C0, t0, t1)
    hat_ranks = [r + be.shape(Ut)[1] for r, Ut in zip(ranks, new_dirs)]
    C_hat = pad(C_bar, hat_ranks)
    for i, block in enumerate(blocks):
        index = tuple(slice(r, None) if j == i else slice(0, r) for j, r in enumerate(ranks))
        C_hat[index] = block
    return C_hat, U_hat, new_dirs


@register_tucker
class TuckerParallelBUG(TuckerIntegrator):
    """Parallel Tucker BUG (Ceruti, Kusch, Lubich & Sulz, arXiv:2412.00858, Tucker case).

    All substeps start from ``Y₀`` and are independent: for each mode the K-step gives ``Kᵢ(t₁)``
    and new directions ``Ũᵢ`` (augmenting ``Uᵢ⁰``, kept verbatim); the core Galerkin step runs in
    the *old* bases.  The augmented core (ranks ``rᵢ + r̃ᵢ ≤ 2rᵢ``) holds ``C̄₁`` in the all-old
    block and ``Tenᵢ(Ũᵢᴴ Kᵢ(t₁) Matᵢ(Gᵢ))`` in the block new in mode i only; every other block is
    dropped (zero).  Truncation by ϑ (``tol``/``rtol``) or to fixed ranks.

    Step rejection (``rejection=True``, with ``tol``/``rtol``: without a tolerance it raises): the
    step is redone from ``Y₀`` written in the augmented bases when some mode keeps all its
    augmented directions (below ``max_rank``) or when ``h·η > rejection_factor·ϑ`` with ``η =
    ‖F(t₀, Y₀) ×₁ Ũ₁ᴴ ⋯ ×_d Ũ_dᴴ‖`` (the block new in every mode, the largest of the dropped ones
    for d = 2).

    Order 1 with a robust error bound; *not* exact for multilinear-rank-r data and *not* norm
    conserving (dropped blocks).  Cost: d + 1 independent substep solves (d on nᵢ × rᵢ, one on
    the core), d augmenting QRs, d SVDs of core unfoldings (plus one projected product per
    rejection test).
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

    def _step(self, ctx: TuckerStepContext, Y: TuckerTensor, t: float, h: float) -> TuckerTensor:
        be = Y.backend
        control = self.tucker_control(Y.ranks)
        reject = bool(self.config["rejection"]) and control.adaptive
        max_rejections = int(self.config["max_rejections"])
        C0, U0 = Y.core, list(Y.factors)
        for attempt in range(max_rejections + 1):
            C_hat, U_hat, new_dirs = parallel_core(ctx, C0, U0, t, t + h)
            Y1 = ctx.truncate_tucker(C_hat, U_hat, control)
            if not reject or attempt == max_rejections:
                return Y1
            hat_ranks = be.shape(C_hat)
            grew_fully = any(
                r1 == rh > r0 and _below(rh, control.mode_bounds(i)[1])
                for i, (r1, rh, r0) in enumerate(zip(Y1.ranks, hat_ranks, be.shape(C0)))
            )
            theta = control.threshold(be.norm(C_hat))
            eta = be.norm(ctx.project(t, C0, U0, new_dirs))
            if not grew_fully and not h * eta > float(self.config["rejection_factor"]) * theta:
                return Y1
            target = admissible_clamp(hat_ranks)
            if tuple(target) == tuple(be.shape(C0)):
                return Y1  # the bases cannot grow further
            ctx.counters.n_rejected += 1
            # redo from Y₀ written in the augmented bases (zero-padded core)
            C0 = pad(C0, target)
            U0 = [U[:, :r] for U, r in zip(U_hat, target)]
        return Y1  # pragma: no cover - the loop always returns


def _below(rank: int, max_rank: int | None) -> bool:
    return max_rank is None or rank < max_rank
