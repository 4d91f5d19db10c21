"""Second-order parallel Tucker integrator ("parallel_bug2")."""

from __future__ import annotations

from typing import Any, ClassVar

from .base import TuckerIntegrator, TuckerStepContext, register_tucker
from .midpoint_bug import rounding_drop, tangent_directions
from .modes import fold, pad, unfold
from .tensor import TuckerTensor

__all__ = ["TuckerParallelBUG2"]


@register_tucker
class TuckerParallelBUG2(TuckerIntegrator):
    """Second-order parallel integrator of J. Kusch (arXiv:2403.02834) extended to Tucker tensors.

    The matrix scheme pre-augments *both* bases with ``F₀ = F(t₀, Y₀)`` so that the K- and L-steps
    see the directions in which ``F₀`` moves the other factor.  Mode-wise this reads:

    1. Pre-augmentation: ``Ûᵢ⁰ = [Uᵢ⁰, new directions of Matᵢ(F₀ ×_{j≠i} Uⱼ⁰ᴴ) Qᵢ]`` (≤ 2rᵢ).
    2. Row bases: the mode-i K-step works in the columns ``conj(⊗_{j≠i} Ûⱼ⁰) Q̂ᵢ`` where ``Q̂ᵢ``
       (``Π_{j≠i} r̂ⱼ × ≤ 2rᵢ``) spans the row space ``Qᵢ`` of ``Matᵢ(C⁰)`` *and* the directions
       ``Zᵢ = Matᵢ(F₀ ×ᵢ Uᵢ⁰ᴴ ×_{j≠i} Ûⱼ⁰ᴴ)ᴴ`` — the Tucker counterpart of ``V̂₀ = [V₀, Ṽ₀]``.
    3. In parallel from ``Y₀``: the K-steps from ``[Uᵢ⁰Sᵢ, 0]`` and the core Galerkin step in the
       bases ``Û⁰`` from the zero-padded ``C⁰``.
    4. New directions ``Ũᵢ¹`` of ``K̂ᵢ¹`` outside ``Ûᵢ⁰`` (≤ 4rᵢ in all); the augmented core holds
       ``C̄₁`` and, in the block new in mode i only, ``Tenᵢ(Ũᵢ¹ᴴ K̂ᵢ¹ Matᵢ(Ĝᵢ))``; truncation to the
       ranks of ``Y₀`` (or ``rank``/``tol``).  ``variant="3r"`` takes only the projection of
       ``K̂ᵢ¹`` onto the predicted row directions ``orth(Q̂ᵢᴴ(Matᵢ(C⁰)ᴴ + h/2·Zᵢ))`` (≤ 3rᵢ).

    For d = 2 every step reduces to the matrix scheme (``Q̂ᵢ`` is square).  Order 2 measured
    (``docs/tucker.md``; no proof for d ≥ 3).  Not exact for rank-r data.  Needs ``F`` at a point (a
    :class:`~dlra.DataField` needs ``dA``).  Cost: two projected evaluations of ``F₀``, d parallel
    K-steps of width ≤ 2rᵢ, a Galerkin step on a core of ``Π 2rᵢ`` entries, 2d augmenting QRs and
    d SVDs of a core of ``Π 4rᵢ`` entries.
    """

    name = "parallel_bug2"
    order = 2
    truncates = True
    options: ClassVar[dict[str, Any]] = {"variant": "4r"}
    choices: ClassVar[dict[str, tuple[Any, ...]]] = {"variant": ("4r", "3r")}

    def _step(self, ctx: TuckerStepContext, Y: TuckerTensor, t: float, h: float) -> TuckerTensor:
        be = Y.backend
        t0, t1 = t, t + h
        d = Y.ndim
        C0, U0 = Y.core, list(Y.factors)
        ranks = Y.ranks
        # 1. pre-augmentation with the tangent directions of F₀
        dirs = tangent_directions(ctx, t0, C0, U0, rounding_drop(C0))
        U0_hat = [ctx.augment(U, D)[1] for U, D in zip(U0, dirs)]
        hat0 = [be.shape(U)[1] for U in U0_hat]
        # Z-directions: F₀ projected on Uᵢ⁰ in mode i and on Ûⱼ⁰ elsewhere (one more evaluation)
        P = ctx.project(t0, C0, U0, U0_hat)
        new_parts, U_hat = [], []
        for i in range(d):
            # rows of mode i: Matᵢ(C⁰) written in the bases Û⁰ of the other modes (rᵢ × Π r̂ⱼ)
            Ci = unfold(pad(C0, [r if j == i else hat0[j] for j, r in enumerate(ranks)]), i)
            Z = be.H(unfold(P[tuple(_leading(j == i, r) for j, r in enumerate(ranks))], i))
            Q, R = ctx.orth(be.H(Ci))
            _, Q_hat = ctx.augment(Q, Z)  # row basis: row space of Matᵢ(C⁰) and the F₀ directions
            G_hat = fold(be.H(Q_hat), i, hat0)
            K0 = be.zeros((be.shape(U0[i])[0], be.shape(Q_hat)[1]), like=C0)
            K0[:, : ranks[i]] = U0[i] @ be.H(R)  # Matᵢ(Cᵢ) = Rᴴ Qᴴ, so Matᵢ(Cᵢ) Q̂ = [Rᴴ, 0]
            K1 = ctx.mode_step(i, G_hat, U0_hat, K0, t0, t1)
            if self.config["variant"] == "3r":
                W_star, _ = ctx.orth(be.H(Q_hat) @ (be.H(Ci) + (h / 2) * Z))
                U_new, Ui_hat = ctx.augment(U0_hat[i], K1 @ W_star, consume=True)
                coef = be.inner(U_new, K1)
            else:  # Ũᵢᴴ K̂ᵢ from the augmentation's small factors (K̂ᵢ handed over)
                U_new, Ui_hat, coef = ctx.augment(U0_hat[i], K1, consume=True, coefficients=True)
            del K1
            new_parts.append((U_new, coef, G_hat))
            U_hat.append(Ui_hat)  # [U0_hat[i], U_new]
        # 3. Galerkin step in the pre-augmented bases
        C_bar = ctx.core_step(U0_hat, pad(C0, hat0), t0, t1)
        # 4. assembly
        new = [be.shape(U_new)[1] for U_new, _, _ in new_parts]
        C_hat = pad(C_bar, [a + b for a, b in zip(hat0, new)])
        for i, (_, coef, G_hat) in enumerate(new_parts):
            block = fold(coef @ unfold(G_hat, i), i, hat0)
            index = tuple(slice(r, None) if j == i else slice(0, r) for j, r in enumerate(hat0))
            C_hat[index] = block
        return ctx.truncate_tucker(C_hat, U_hat, self.tucker_control(ranks))


def _leading(keep_leading: bool, r: int) -> slice:
    """The first ``r`` indices of a mode (the old directions) or all of them."""
    return slice(0, r) if keep_leading else slice(None)
