"""The Tucker integrator base class and the per-step work context.

Tucker integrators share the configuration, the substep solvers, the counters and the registry
of the matrix integrators (:mod:`dlra.integrators.base`, registered under ``kind="tucker"``); they
differ in the state (:class:`~dlra.TuckerTensor`), the field protocol (:mod:`dlra.tucker.fields`)
and the rank control (one rank, minimum and maximum per mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..integrators.base import (
    Counters,
    Integrator,
    StepContext,
    check_counters,
    check_step_time,
    check_tolerance_needs,
    register,
    validate_for_state,
)
from ..substeps import as_substep
from .fields import TuckerField, as_tucker_field
from .tensor import TuckerTensor
from .truncation import TuckerRankControl, sthosvd

__all__ = ["TuckerIntegrator", "TuckerStepContext", "register_tucker"]


def register_tucker(cls: type) -> type:
    """Class decorator: register a Tucker integrator under its ``name``."""
    return register(cls, "tucker")


class TuckerStepContext(StepContext):
    """Field products, substep solves and factorizations of one Tucker step, all counted."""

    field: TuckerField

    def project(self, t: float, core: Any, factors: Sequence[Any], bases: Sequence[Any]) -> Any:
        self.counters.nfev += 1
        return self.field.project(t, core, factors, bases)

    def project_modes(
        self, t: float, core: Any, factors: Sequence[Any], bases: Sequence[Any]
    ) -> list[Any]:
        self.counters.nfev += 1
        return self.field.project_modes(t, core, factors, bases)

    def project_modes_times(
        self,
        t: float,
        core: Any,
        factors: Sequence[Any],
        bases: Sequence[Any],
        rights: Sequence[Any],
    ) -> list[Any]:
        self.counters.nfev += 1
        return self.field.project_modes_times(t, core, factors, bases, rights)

    def mode_step(
        self,
        i: int,
        G: Any,
        factors: Sequence[Any],
        X0: Any,
        t0: float,
        t1: float,
        *,
        basis: Any | None = None,
        sign: float = 1.0,
    ) -> Any:
        """Mode-``i`` K-step (``basis=None``) or its Galerkin projection onto ``basis`` from ``X0``."""
        return self._solve(self.field.mode_flow(i, G, factors, basis), X0, t0, t1, sign)

    def core_step(
        self, factors: Sequence[Any], C0: Any, t0: float, t1: float, sign: float = 1.0
    ) -> Any:
        """Galerkin step ``Ċ = sign · F(t, C ×ⱼ Uⱼ) ×ⱼ Uⱼᴴ`` from ``C0`` on ``[t0, t1]``."""
        return self._solve(self.field.core_flow(factors), C0, t0, t1, sign)

    def truncate_tucker(
        self, core: Any, factors: Sequence[Any], control: TuckerRankControl
    ) -> TuckerTensor:
        self.counters.n_svd += len(factors)
        C, U, _ = sthosvd(core, factors, control)
        return TuckerTensor(C, U, check=False)


class TuckerIntegrator(Integrator):
    """Base class of the Tucker integrators: configuration only; :meth:`step` advances a
    :class:`~dlra.TuckerTensor` by one step.

    Options as for matrices; ``rank``, ``min_rank`` and ``max_rank`` may be one int for every mode
    or one per mode.  Tolerances ``tol``/``rtol`` bound the total Frobenius norm discarded by a
    truncation (see :mod:`dlra.tucker.truncation`).
    """

    def __init__(
        self,
        *,
        substep: Any = "rk4",
        rank: int | Sequence[int] | None = None,
        tol: float | None = None,
        rtol: float | None = None,
        min_rank: int | Sequence[int] = 1,
        max_rank: int | Sequence[int | None] | None = None,
        **options: Any,
    ) -> None:
        self.substep = as_substep(substep)
        self._set_options(options)
        self._rank_spec = (rank, tol, rtol, min_rank, max_rank)
        # Validate what can be validated before d is known (per-mode lengths: in prepare/step).
        control = TuckerRankControl.build(
            _length(rank, min_rank, max_rank),
            rank=rank,
            tol=tol,
            rtol=rtol,
            min_rank=min_rank,
            max_rank=max_rank,
        )
        tolerance = tol is not None or rtol is not None
        min_above_one = any(v != 1 for v in control.min_ranks)  # min_rank, broadcast per mode
        if not self.truncates and (tolerance or max_rank is not None or min_above_one):
            raise ValueError(
                f"{self.name!r} keeps the ranks fixed: tol, rtol, min_rank and max_rank do not "
                "apply; use 'adaptive_bug' or 'parallel_bug' for rank adaptivity"
            )
        check_tolerance_needs(self, tolerance)
        #: the ranks given at construction: what :func:`dlra.solve` brings ``Y0`` to, and the
        #: ranks a truncating method keeps when no tolerance was given
        self.initial_rank = rank

    def __repr__(self) -> str:
        rank, tol, rtol, lo, hi = self._rank_spec
        return (
            f"{type(self).__name__}(substep={self.substep!r}, rank={rank!r}, tol={tol!r}, "
            f"rtol={rtol!r}, min_rank={lo!r}, max_rank={hi!r})"
        )

    def tucker_control(self, ranks: Sequence[int]) -> TuckerRankControl:
        """The truncation rule for a state of ranks ``ranks``: by tolerance when one was given
        (``rank`` is then the initial rank only), else fixed at ``rank`` (default: the current
        ranks); either way within ``[min_rank, max_rank]`` per mode."""
        rank, tol, rtol, lo, hi = self._rank_spec
        d = len(ranks)
        tolerance = tol is not None or rtol is not None
        control = TuckerRankControl.build(
            d, rank=None if tolerance else rank, tol=tol, rtol=rtol, min_rank=lo, max_rank=hi
        )
        if control.adaptive:
            return control
        return control.fixed(control.ranks or ranks)

    def step(
        self, field: Any, Y: TuckerTensor, t: float, h: float, *, counters: Counters | None = None
    ) -> TuckerTensor:
        """One step of size ``h`` from ``(t, Y)``; returns the new state.  Work is added to
        ``counters`` when given."""
        if not isinstance(Y, TuckerTensor):
            raise TypeError(f"Y must be a TuckerTensor, got {type(Y).__name__}")
        t, h = check_step_time(t, h)
        wrapped = as_tucker_field(field)
        validate_for_state(self, wrapped, Y, t, given=field)
        ctx = TuckerStepContext(wrapped, self.substep, check_counters(counters))
        return self._run_in_workspace(self._step, ctx, Y, t, h)

    def _step(self, ctx: Any, Y: Any, t: float, h: float) -> Any:
        raise NotImplementedError


def _length(*values: Any) -> int:
    """The number of modes implied by per-mode options (1 when all are scalars)."""
    for v in values:
        if v is not None and not isinstance(v, int):
            try:
                return len(v)
            except TypeError:
                raise TypeError(
                    f"rank options must be ints or sequences of ints, got {v!r}"
                ) from None
    return 1
