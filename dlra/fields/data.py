"""Approximation of a given time-dependent matrix: ``F(t, Y) = Ȧ(t)``, independent of ``Y``."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from .._backend import backend_of, is_torch_tensor
from .._checks import require_plain_dense
from .base import Field, Flow

__all__ = ["DataField"]


class DataField(Field):
    """The DLRA of explicitly given data ``A(t)`` (a callable returning a dense array).

    Every substep ODE has a right-hand side independent of the unknown, so the ``"exact"`` substep
    solver uses increments ``A(t₁) − A(t₀)`` (no derivative needed): KSL, Strang, BUG and the
    rank-adaptive BUG then reproduce data of exact rank r exactly.  ``dA`` (the derivative, a
    callable) is needed by Runge–Kutta substeps and by schemes that evaluate ``F`` at a point
    (midpoint BUG, second-order parallel, step rejection of the parallel BUG).

    Values ``A(t)`` are cached for the last few times, so one step evaluates each time once.
    The data is dense (n × m); for large structured problems use :class:`LinearField`.
    """

    def __init__(self, A: Callable[[float], Any], dA: Callable[[float], Any] | None = None) -> None:
        if not callable(A):
            raise TypeError(f"A must be a callable t -> array, got {type(A).__name__}")
        if dA is not None and not callable(dA):
            raise TypeError(f"dA must be None or a callable t -> array, got {type(dA).__name__}")
        self.A = A
        self.dA = dA
        self._cache: OrderedDict[float, Any] = OrderedDict()
        self._dcache: OrderedDict[float, Any] = OrderedDict()
        #: (backend, shape, real) of the state validated against (check_values): later values
        #: are checked against it as they are computed
        self._expected: tuple[Any, tuple[int, ...], bool] | None = None

    def __repr__(self) -> str:
        return f"DataField(A={self.A!r}, dA={self.dA!r})"

    def value(self, t: float) -> Any:
        """``A(t)``, cached for the last 8 distinct times."""
        return _cached(self._cache, self.A, t, self._check_later, "A(t)")

    def increment(self, t0: float, t1: float) -> Any:
        return self.value(t1) - self.value(t0)

    def derivative(self, t: float) -> Any:
        if self.dA is None:
            raise ValueError(
                "this DataField has no derivative: pass dA=... (needed by Runge-Kutta and Euler "
                "substeps, midpoint_bug, parallel_bug2 and step rejection) or use substep='exact'"
            )
        return _cached(self._dcache, self.dA, t, self._check_later, "dA(t)")

    def _check_later(self, value: Any, name: str, t: float) -> None:
        """A value computed after validation has the validated state's library, shape and
        realness (non-finite values are left to the caller's check: ``solve`` stops with
        ``status=1``)."""
        if self._expected is not None:
            be, shape, real = self._expected
            _check_value(be, value, name, shape, real, t, finite=False)

    def right(self, t: float, A: Any, B: Any, W: Any) -> Any:
        return self.derivative(t) @ W

    def left(self, t: float, A: Any, B: Any, Z: Any) -> Any:
        D = self.derivative(t)
        return backend_of(D).H(D) @ Z

    def right_left(self, t: float, A: Any, B: Any, W: Any, Z: Any) -> tuple[Any, Any]:
        D = self.derivative(t)
        return D @ W, backend_of(D).H(D) @ Z

    def k_flow(self, V: Any) -> Flow:
        def exact(K0: Any, t0: float, t1: float, sign: float) -> Any:
            return K0 + sign * (self.increment(t0, t1) @ V)

        return Flow(lambda t, K: self.right(t, K, V, V), exact)

    def l_flow(self, U: Any) -> Flow:
        def exact(L0: Any, t0: float, t1: float, sign: float) -> Any:
            D = self.increment(t0, t1)
            return L0 + sign * (backend_of(D).H(D) @ U)

        return Flow(lambda t, L: self.left(t, U, L, U), exact)

    def s_flow(self, U: Any, V: Any) -> Flow:
        def exact(S0: Any, t0: float, t1: float, sign: float) -> Any:
            return S0 + sign * (backend_of(U).H(U) @ (self.increment(t0, t1) @ V))

        return Flow(lambda t, S: self.galerkin(t, U @ S, V, U, V), exact)

    def validate(self, t: float, Y: Any) -> None:
        U, _, V = Y
        be = backend_of(U)
        shape = (be.shape(U)[0], be.shape(V)[0])
        self.check_values(be, t, shape, real=not be.is_complex(U))

    def check_values(self, be: Any, t: float, shape: tuple[int, ...], *, real: bool) -> None:
        """``A(t)`` and ``dA(t)`` (when given) are finite dense arrays of the state's library
        (``be``) and ``shape``, and not complex for a ``real`` state; else a ValueError or
        TypeError naming which."""
        self._expected = None  # (the values at t are checked here, finiteness included)
        _check_value(be, self.value(t), "A(t)", shape, real, t)
        if self.dA is not None:
            _check_value(be, self.derivative(t), "dA(t)", shape, real, t)
        self._expected = (be, tuple(shape), real)


def _check_value(
    be: Any,
    value: Any,
    name: str,
    shape: tuple[int, ...],
    real: bool,
    t: float,
    *,
    finite: bool = True,
) -> None:
    """``value`` (what ``name`` returned at ``t``): see :meth:`DataField.check_values`."""
    if not (isinstance(value, np.ndarray) or is_torch_tensor(value)):
        raise TypeError(
            f"{name} must return a dense {be.name} array like Y0, got {type(value).__name__}"
        )
    require_plain_dense(value, name)
    other = backend_of(value)
    if other != be:
        raise TypeError(f"{name} returned a {other.name} array but Y0 is {be.name}")
    if tuple(value.shape) != tuple(shape):
        raise ValueError(
            f"{name} returned shape {tuple(value.shape)}, expected {tuple(shape)} like Y0 "
            f"(at t = {t:g})"
        )
    if finite and not be.all_finite(value):
        raise ValueError(f"{name} returned NaN or Inf at t = {t:g}")
    if real and be.is_complex(value):
        raise TypeError(f"{name} is complex but Y0 is real (at t = {t:g}); pass a complex Y0")


def _cached(
    cache: OrderedDict[float, Any],
    function: Callable[[float], Any],
    t: float,
    check: Callable[[Any, str, float], None],
    name: str,
) -> Any:
    """``function(t)`` through a small LRU cache keyed by time (one step reuses a few times);
    each new value goes through ``check(value, name, t)`` first."""
    key = float(t)
    hit = cache.get(key)
    if hit is not None:
        cache.move_to_end(key)
        return hit
    out = function(t)
    check(out, name, t)
    cache[key] = out
    if len(cache) > 8:
        cache.popitem(last=False)
    return out
