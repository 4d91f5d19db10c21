"""Substep solvers: how the small K-, L- and S-step ODEs inside a DLRA step are integrated.

* :class:`RK4` — ``steps`` classical Runge–Kutta steps (default one, as in the papers); stage times
  ``t, t + τ/2, t + τ/2, t + τ``.
* :class:`Euler` — ``steps`` explicit Euler steps (first order: caps second-order schemes at 1).
* :class:`Exact` — the closed form the field provides (increments for :class:`~dlra.DataField`,
  exponentials for autonomous :class:`~dlra.LinearField`); a clear error where none exists.

Every integrator passes the same ``[t₀, t₁]`` of its substep (also for the backward S-step of
projector splitting, which solves ``Ṡ = −Uᴴ F V`` forward in time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._checks import unknown_name_error
from .fields.base import Flow

__all__ = ["RK4", "Euler", "Exact", "SubstepSolver", "as_substep"]


class SubstepSolver:
    """Integrates a :class:`~dlra.fields.Flow` from ``t0`` to ``t1``; ``sign = −1`` negates it."""

    #: local order of accuracy of one substep (``None`` for exact)
    order: int | None = None

    def solve(self, flow: Flow, x0: Any, t0: float, t1: float, sign: float = 1.0) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class RK4(SubstepSolver):
    """``steps`` classical RK4 steps per substep (order 4)."""

    steps: int = 1
    order = 4

    def __post_init__(self) -> None:
        _check_steps(self.steps)

    def solve(self, flow: Flow, x0: Any, t0: float, t1: float, sign: float = 1.0) -> Any:
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


@dataclass(frozen=True)
class Euler(SubstepSolver):
    """``steps`` explicit Euler steps per substep (order 1)."""

    steps: int = 1
    order = 1

    def __post_init__(self) -> None:
        _check_steps(self.steps)

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


_NAMED = {"rk4": RK4, "euler": Euler, "exact": Exact}


def as_substep(spec: Any) -> SubstepSolver:
    """A solver from ``"rk4"``, ``"euler"``, ``"exact"`` or a :class:`SubstepSolver` instance."""
    if isinstance(spec, SubstepSolver):
        return spec
    if isinstance(spec, str):
        cls = _NAMED.get(spec.lower())
        if cls is None:
            raise unknown_name_error("substep solver", spec, _NAMED)
        return cls()
    raise TypeError(
        f"substep must be 'rk4', 'euler', 'exact' or a solver like dlra.RK4(steps=4), got {spec!r}"
    )
