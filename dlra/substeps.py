"""Substep solvers: how the small K-, L- and S-step ODEs inside a DLRA step are integrated.

* :class:`RK4` — ``steps`` classical Runge–Kutta steps (default one, as in the papers); stage times
  ``t, t + τ/2, t + τ/2, t + τ``.
* :class:`LowStorageRK4` — ``steps`` steps of the five-stage fourth-order 2N-storage Runge–Kutta
  scheme of Carpenter & Kennedy: two blocks of working memory instead of about five, for 5/4 of
  the field evaluations.
* :class:`Euler` — ``steps`` explicit Euler steps (first order: caps second-order schemes at 1).
* :class:`Exact` — the closed form the field provides (increments for :class:`~dlra.DataField`,
  exponentials for autonomous :class:`~dlra.LinearField`); a clear error where none exists.

Every integrator passes the same ``[t₀, t₁]`` of its substep (also for the backward S-step of
projector splitting, which solves ``Ṡ = −Uᴴ F V`` forward in time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._backend import backend_of
from ._checks import unknown_name_error
from ._workspace import copy_scratch, empty_scratch
from .fields.base import Flow, accumulate_rhs

__all__ = ["RK4", "Euler", "Exact", "LowStorageRK4", "SubstepSolver", "as_substep"]


class SubstepSolver:
    """Integrates a :class:`~dlra.fields.Flow` from ``t0`` to ``t1``; ``sign = −1`` negates it."""

    #: local order of accuracy of one substep (``None`` for exact)
    order: int | None = None
    #: True when ``solve`` accepts ``overwrite_x0=True`` and then works in the buffer of ``x0``
    #: (integrators pass it for starting blocks they made themselves and do not reuse)
    can_overwrite_x0: bool = False
    #: True when ``solve`` returns an array of its own (new, or ``x0`` when handed over), never
    #: one a field returned: integrators may then work in the result (``StepContext.augment``)
    owns_result: bool = False

    def solve(self, flow: Flow, x0: Any, t0: float, t1: float, sign: float = 1.0) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class _Stepping(SubstepSolver):
    """A solver that takes ``steps`` equal steps per substep."""

    steps: int = 1
    owns_result = True

    def __post_init__(self) -> None:
        _check_steps(self.steps)


@dataclass(frozen=True)
class RK4(_Stepping):
    """``steps`` classical RK4 steps per substep (order 4).

    With a field that accumulates into preallocated blocks (``Flow.rhs_into``, e.g.
    :class:`~dlra.LinearField`) the stages work in four blocks of the state's size; otherwise the
    stages are summed as they come.  :class:`LowStorageRK4` needs two.

    Autonomous linear flows (``Flow.linear``: a :class:`~dlra.LinearField` with constant
    coefficients and no source) take the step as what it is for them, the polynomial
    ``x + τLx + (τL)²x/2 + (τL)³x/6 + (τL)⁴x/24``, in Horner form::

        y ← x + (τ/4) L x;   y ← x + (τ/3) L y;   y ← x + (τ/2) L y;   x ← x + τ L y

    the same four evaluations and the same result up to rounding, in two working blocks with
    one copy per evaluation instead of four blocks and about four passes: a K-step at
    n = 2^16–2^18, r = 16 takes 1.8× less time (docs/conventions.md).
    """

    order = 4
    can_overwrite_x0 = True

    def solve(
        self,
        flow: Flow,
        x0: Any,
        t0: float,
        t1: float,
        sign: float = 1.0,
        *,
        overwrite_x0: bool = False,
    ) -> Any:
        if flow.linear:
            return self._solve_linear(flow, x0, t0, t1, sign, overwrite_x0)
        if flow.rhs_into is not None:
            return self._solve_in_place(flow, x0, t0, t1, sign, overwrite_x0)
        tau = (t1 - t0) / self.steps
        x = x0
        f = flow.rhs
        for j in range(self.steps):
            t = t0 + j * tau
            # stages summed as they come (same order of additions as k1 + 2k2 + 2k3 + k4, so the
            # same bits) to keep fewer tall blocks alive at once
            k = f(t, x)
            acc = k
            k = f(t + tau / 2, x + (sign * tau / 2) * k)
            acc = acc + 2 * k
            k = f(t + tau / 2, x + (sign * tau / 2) * k)
            acc += 2 * k
            k = f(t + tau, x + (sign * tau) * k)
            acc += k
            del k
            x = x + (sign * tau / 6) * acc
        return x

    def _solve_linear(
        self, flow: Flow, x0: Any, t0: float, t1: float, sign: float, overwrite_x0: bool
    ) -> Any:
        """The step polynomial of an autonomous linear flow in Horner form (class docstring):
        with ``Flow.rhs_into`` in two working blocks — each evaluation accumulates into a copy
        of ``x``, the last one into ``x`` itself once it is this function's own — otherwise one
        new block per evaluation."""
        tau = (t1 - t0) / self.steps
        h = sign * tau
        factors = (h / 4, h / 3, h / 2, h)
        if flow.rhs_into is None:
            f = flow.rhs
            x = x0
            for j in range(self.steps):
                t = t0 + j * tau
                y = x
                for c in factors:
                    y = x + c * f(t, y)
                x = y
            return x
        be = backend_of(x0)
        x, owned = x0, overwrite_x0
        # every entry is written before it is read: each evaluation's target is a copy of x
        a = empty_scratch(be.shape(x), like=x)
        b = empty_scratch(be.shape(x), like=x)
        for j in range(self.steps):
            t = t0 + j * tau
            a[...] = x
            accumulate_rhs(flow, t, x, a, factors[0])
            b[...] = x
            accumulate_rhs(flow, t, a, b, factors[1])
            a[...] = x
            accumulate_rhs(flow, t, b, a, factors[2])
            if owned:  # x is not read after this evaluation: it takes the result
                accumulate_rhs(flow, t, a, x, factors[3])
            else:
                b[...] = x
                accumulate_rhs(flow, t, a, b, factors[3])
                x, owned = b, True
                if j + 1 < self.steps:
                    b = empty_scratch(be.shape(x), like=x)
        return x

    def _solve_in_place(
        self, flow: Flow, x0: Any, t0: float, t1: float, sign: float, overwrite_x0: bool
    ) -> Any:
        """The same stages with the field accumulated into preallocated blocks
        (``Flow.rhs_into``): four blocks of working memory (state, stage, stage value, sum)."""
        be = backend_of(x0)
        tau = (t1 - t0) / self.steps
        h = sign * tau
        x = x0 if overwrite_x0 else copy_scratch(x0)
        # every entry is written before it is read: k is zeroed per stage, acc and stage copy x
        k = empty_scratch(be.shape(x), like=x)
        stage = empty_scratch(be.shape(x), like=x)
        acc = empty_scratch(be.shape(x), like=x)
        add = be.scaled_adder(x, k, stage, acc)  # y += a·x among these four, checked once
        for j in range(self.steps):
            t = t0 + j * tau
            acc[...] = x
            arg = x
            for c, w, a in (
                (0.0, 1 / 6, 0.5),
                (0.5, 1 / 3, 0.5),
                (0.5, 1 / 3, 1.0),
                (1.0, 1 / 6, 0),
            ):
                k[...] = 0
                accumulate_rhs(flow, t + c * tau, arg, k, 1.0)
                add(acc, k, h * w)
                if a:
                    stage[...] = x
                    add(stage, k, h * a)
                    arg = stage
            x, acc = acc, x
        return x


# Carpenter & Kennedy (1994), NASA TM-109112, five-stage fourth-order 2N-storage scheme (their
# solution 3).  The eight order conditions of order 4 hold to round-off for these rationals
# (tests/core/test_substeps.py rebuilds the Butcher tableau and checks them).
_CK_A = (
    0.0,
    -567301805773 / 1357537059087,
    -2404267990393 / 2016746695238,
    -3550918686646 / 2091501179385,
    -1275806237668 / 842570457699,
)
_CK_B = (
    1432997174477 / 9575080441755,
    5161836677717 / 13612068292357,
    1720146321549 / 2090206949498,
    3134564353537 / 4481467310338,
    2277821191437 / 14882151754819,
)
_CK_C = (
    0.0,
    1432997174477 / 9575080441755,
    2526269341429 / 6820363962896,
    2006345519317 / 3224310063776,
    2802321613138 / 2924317926251,
)


@dataclass(frozen=True)
class LowStorageRK4(_Stepping):
    """``steps`` steps of the 2N-storage RK scheme of Carpenter & Kennedy, order 4, five stages.

    Two registers per substep, the state ``q`` and the increment ``dq``, updated in place::

        dq ← Aᵢ dq + τ F(t + cᵢ τ, q);   q ← q + Bᵢ dq        (i = 1 … 5)

    With a field that accumulates ``F`` into ``dq`` without temporaries (``Flow.rhs_into``, which
    :class:`~dlra.LinearField` provides), a K- or L-step holds two n × r blocks instead of the
    four or five of :class:`RK4`; when the integrator hands over its own starting block
    (``overwrite_x0``), even the copy of it is saved.  Cost: five field evaluations per step
    instead of four.  Use it when memory, not time, limits the problem size (docs: choosing).

    Reference: M. H. Carpenter and C. A. Kennedy, *Fourth-order 2N-storage Runge–Kutta schemes*,
    NASA TM-109112 (1994).
    """

    order = 4
    can_overwrite_x0 = True

    def solve(
        self,
        flow: Flow,
        x0: Any,
        t0: float,
        t1: float,
        sign: float = 1.0,
        *,
        overwrite_x0: bool = False,
    ) -> Any:
        be = backend_of(x0)
        tau = (t1 - t0) / self.steps
        q = x0 if overwrite_x0 else copy_scratch(x0)
        dq = empty_scratch(be.shape(q), like=q)  # zeroed by the first stage (A₁ = 0)
        for j in range(self.steps):
            t = t0 + j * tau
            for a, b, c in zip(_CK_A, _CK_B, _CK_C):
                if a == 0.0:
                    dq[...] = 0
                else:
                    dq *= a
                accumulate_rhs(flow, t + c * tau, q, dq, sign * tau)
                be.add_scaled_(q, dq, b)
        return q


@dataclass(frozen=True)
class Euler(_Stepping):
    """``steps`` explicit Euler steps per substep (order 1)."""

    order = 1

    def solve(self, flow: Flow, x0: Any, t0: float, t1: float, sign: float = 1.0) -> Any:
        tau = (t1 - t0) / self.steps
        x = x0
        for j in range(self.steps):
            x = x + (sign * tau) * flow.rhs(t0 + j * tau, x)
        return x


@dataclass(frozen=True)
class Exact(SubstepSolver):
    """The field's closed-form substep solution; ``ValueError`` when the field has none."""

    order = None

    def solve(self, flow: Flow, x0: Any, t0: float, t1: float, sign: float = 1.0) -> Any:
        if flow.exact is None:
            raise ValueError(f"substep='exact' is not available: {flow.why_not_exact}")
        return flow.exact(x0, t0, t1, sign)


def _check_steps(steps: Any) -> None:
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")


_NAMED = {"rk4": RK4, "lsrk4": LowStorageRK4, "euler": Euler, "exact": Exact}


def as_substep(spec: Any) -> SubstepSolver:
    """A solver from ``"rk4"``, ``"lsrk4"``, ``"euler"``, ``"exact"`` or a :class:`SubstepSolver`
    instance."""
    if isinstance(spec, SubstepSolver):
        return spec
    if isinstance(spec, str):
        cls = _NAMED.get(spec.lower())
        if cls is None:
            raise unknown_name_error("substep solver", spec, _NAMED)
        return cls()
    raise TypeError(
        f"substep must be 'rk4', 'lsrk4', 'euler', 'exact' or a solver like dlra.RK4(steps=4), got {spec!r}"
    )
