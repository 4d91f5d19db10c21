"""Second-order midpoint Tucker BUG ("midpoint_bug")."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from .._backend import backend_of
from .augmented_bug import augmented_galerkin
from .base import TuckerIntegrator, TuckerStepContext, register_tucker
from .modes import pad, unfold
from .tensor import TuckerTensor

__all__ = ["TuckerMidpointBUG", "occupied_rows", "tangent_directions"]


def occupied_rows(core: Any, i: int, drop: float) -> Any:
    """Orthonormal basis (``Π_{j≠i} rⱼ × k``) of the numerically occupied row space of
    ``Matᵢ(core)``: right singular vectors with ``σ > drop·σ₁``.  An augmented core is often rank
    deficient; its remaining rows are arbitrary directions that ``F`` must not be applied along."""
    be = backend_of(core)
    _, sigma, Wh = be.svd(unfold(core, i))
    s = be.to_numpy(sigma)
    k = max(1, int((s > drop * s[0]).sum())) if len(s) and s[0] > 0 else 1
    return be.H(Wh[:k])


def tangent_directions(
    ctx: TuckerStepContext, t: float, core: Any, factors: list[Any], drop: float
) -> list[Any]:
    """Per mode, the K-step directions of ``F(t, Y)`` at ``Y = core ×ⱼ factorsⱼ``:
    ``Matᵢ(F ×_{j≠i} Uⱼᴴ) Qᵢ`` with ``Qᵢ`` the occupied row space of ``Matᵢ(core)`` — the mode-i
    components of the tangent projection of ``F`` (for d = 2: ``F V`` and ``Fᴴ U``, as in the
    matrix schemes).  One (projected) evaluation of ``F``."""
    rights = [occupied_rows(core, i, drop) for i in range(len(factors))]
    return ctx.project_modes_times(t, core, factors, factors, rights)


def rounding_drop(dtype_of: Any) -> float:
    """Relative size below which directions of ``F`` are rounding-determined: ``√eps/100`` (the
    threshold of the matrix midpoint BUG, see :func:`dlra.augment_basis`)."""
    be = backend_of(dtype_of)
    return math.sqrt(be.eps(dtype_of.dtype)) / 100


@register_tucker
class TuckerMidpointBUG(TuckerIntegrator):
    """Midpoint Tucker BUG — the matrix scheme of Ceruti, Einkemmer, Kusch & Lubich (BIT 2024,
    arXiv:2402.08607) applied mode-wise.

    Half step: augmented Tucker BUG without truncation on ``[t₀, t½]`` → ``Y½ = Ĉ½ ×ⱼ Ûⱼ½``
    (ranks ≤ 2rᵢ, ``Uⱼ⁰`` leading).  Augmentation with ``F½ = F(t½, Y½)``: per mode,
    ``Ûᵢ = [Ûᵢ½, new directions of Matᵢ(F½ ×_{j≠i} Ûⱼ½ᴴ) Matᵢ(Gᵢ½)ᴴ]`` (≤ 4rᵢ).  Galerkin step over
    the *full* ``[t₀, t₁]`` from the zero-padded ``C⁰`` (``Y₀`` exactly); truncation to the ranks of
    ``Y₀`` (or ``rank``, or by ``tol``/``rtol``).  ``variant="3r"`` truncates the half step to the
    ranks of ``Y₀`` first and augments ``[Uᵢ⁰, Uᵢ½, directions]`` (≤ 3rᵢ).

    Order 2 (measured, ``docs/tucker.md``; proven for matrices).  Not exact for rank-r data.  Norm
    of norm-conserving fields kept up to the truncation with an exact Galerkin substep.  Needs
    ``F`` at a point (a :class:`~dlra.DataField` needs ``dA``).  Cost: about two augmented BUG
    steps; the Galerkin step runs on a core of up to ``Π 4rᵢ`` entries.
    """

    name = "midpoint_bug"
    order = 2
    truncates = True
    options: ClassVar[dict[str, Any]] = {"variant": "4r"}
    choices: ClassVar[dict[str, tuple[Any, ...]]] = {"variant": ("4r", "3r")}

    def _step(self, ctx: TuckerStepContext, Y: TuckerTensor, t: float, h: float) -> TuckerTensor:
        be = Y.backend
        t0, th, t1 = t, t + h / 2, t + h
        control = self.tucker_control(Y.ranks)
        drop = rounding_drop(Y.core)
        C_h, U_h = augmented_galerkin(ctx, Y, t0, th)
        if self.config["variant"] == "3r":
            # the half step goes back to the ranks of Y₀, whatever tolerance truncates the full step
            Yh = ctx.truncate_tucker(C_h, U_h, control.fixed(Y.ranks))
            C_h, U_h = Yh.core, list(Yh.factors)
            dirs = tangent_directions(ctx, th, C_h, U_h, drop)
            U_hat = [
                ctx.augment(U0, be.concat([Uh, D], axis=1), drop)[1]
                for U0, Uh, D in zip(Y.factors, U_h, dirs)
            ]
        else:
            dirs = tangent_directions(ctx, th, C_h, U_h, drop)
            U_hat = [ctx.augment(Uh, D, drop)[1] for Uh, D in zip(U_h, dirs)]
        # Uⱼ⁰ leads Ûⱼ, so the start is C⁰ padded with zeros: Y₀ exactly.
        C_start = pad(Y.core, [be.shape(U)[1] for U in U_hat])
        C1 = ctx.core_step(U_hat, C_start, t0, t1)
        return ctx.truncate_tucker(C1, U_hat, control)
