"""Strang symmetrisation of the Tucker projector-splitting integrator ("strang")."""

from __future__ import annotations

from .base import TuckerIntegrator, TuckerStepContext, register_tucker
from .ksl import adjoint_sweep, forward_sweep, k_only, last_mode_square
from .tensor import TuckerTensor

__all__ = ["TuckerStrang"]


@register_tucker
class TuckerStrang(TuckerIntegrator):
    """Strang splitting ``Φ*_{h/2} ∘ Φ_{h/2}`` of Tucker projector splitting.

    ``Φ`` is the Lie–Trotter step of :class:`~dlra.tucker.ksl.TuckerKSL` (K₁, S₁⁻, …, K_d, S_d⁻, C)
    and ``Φ*`` its adjoint (the same substeps in reverse order: C, S_d⁻, K_d, …, S₁⁻, K₁).  The two
    C-steps meet in the middle and are merged into one over ``[t₀, t₁]``; when the last mode is
    square (always for d = 2) the two K_d-steps are merged instead, and the scheme reduces to the
    matrix Strang step for d = 2.

    Order 2 observed (measured slope ≈ 2, see ``docs/tucker.md``; no proof in the literature, as
    for matrices); exact for explicit data of multilinear rank (r₁, …, r_d); substep-wise norm and
    energy conservation for Schrödinger-type fields; fixed ranks.  Cost: about twice that of
    ``ksl`` (4d + 1 substep solves).
    """

    name = "strang"
    order = 2
    exact_for_rank_r_data = True

    def _step(self, ctx: TuckerStepContext, Y: TuckerTensor, t: float, h: float) -> TuckerTensor:
        d = Y.ndim
        t0, th, t1 = t, t + h / 2, t + h
        U = list(Y.factors)
        if last_mode_square(Y.ranks):
            C, U = forward_sweep(ctx, Y.core, U, t0, th, modes=range(d - 1))
            C, U = k_only(ctx, C, U, d - 1, t0, t1)
        else:
            C, U = forward_sweep(ctx, Y.core, U, t0, th, modes=range(d))
            C = ctx.core_step(U, C, t0, t1)
            C, U = adjoint_sweep(ctx, C, U, th, t1, modes=range(d - 1, d))
        C, U = adjoint_sweep(ctx, C, U, th, t1, modes=range(d - 2, -1, -1))
        return TuckerTensor(C, U, check=False)
