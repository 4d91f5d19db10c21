"""The field protocol: how integrators evaluate ``F(t, Y)`` through products with factors.

Every integrator of :mod:`dlra` needs ``F`` only through three *projected* products at factored
points ``Y = A Bᴴ`` (``A`` of shape n × k, ``B`` of shape m × k, neither necessarily orthonormal):

* ``right(t, A, B, W)``  = ``F(t, A Bᴴ) W``          (n × p; K-steps, augmentation)
* ``left(t, A, B, Z)``   = ``F(t, A Bᴴ)ᴴ Z``         (m × p; L-steps, augmentation)
* ``galerkin(t, A, B, Z, W)`` = ``Zᴴ F(t, A Bᴴ) W``  (p × q; S-steps)

A structured field subclasses :class:`Field` and implements these (``galerkin`` and ``right_left``
have defaults) so that nothing of size n × m is ever formed.  The substep ODEs of the integrators
are built from them as :class:`Flow` objects by :meth:`Field.k_flow`, :meth:`Field.l_flow` and
:meth:`Field.s_flow`; a field may override those to precompute projected operators once per substep
or to provide a closed-form (``"exact"``) solution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import backend_of, is_torch_tensor
from .._checks import require_plain_dense

__all__ = ["CallableField", "Field", "Flow", "accumulate_rhs", "as_field"]


@dataclass(frozen=True)
class Flow:
    """A substep ODE ``Ẋ = rhs(t, X)`` on a small or tall factor block.

    ``exact(x0, t0, t1, sign)`` returns the exact solution at ``t1`` of ``Ẋ = sign·rhs(t, X)``,
    ``X(t0) = x0`` when the field knows one; otherwise ``exact`` is None and ``why_not_exact``
    says why (shown to users who ask for ``substep="exact"``).

    ``rhs_into(t, x, out, alpha)``, when given, adds ``alpha · rhs(t, x)`` to ``out`` in place
    (``out`` is owned by the caller and distinct from ``x``) with temporaries well below one block
    of the size of ``x``; :func:`accumulate_rhs` falls back to ``out += alpha · rhs(t, x)``.  The
    low-storage substep solver (:class:`~dlra.LowStorageRK4`) is built on it.

    ``linear=True`` declares that ``rhs(t, X) = L(X)`` for a linear map ``L`` independent of ``t``
    (an autonomous linear ODE, e.g. a :class:`~dlra.LinearField` with constant coefficients and
    no source).  :class:`~dlra.RK4` then evaluates its step polynomial
    ``Σ_{j≤4} (τL)^j/j!`` in Horner form — the same map, in fewer passes over the block.
    """

    rhs: Callable[[float, Any], Any]
    exact: Callable[[Any, float, float, float], Any] | None = None
    why_not_exact: str = "this field has no closed-form substep solution"
    rhs_into: Callable[[float, Any, Any, Any], None] | None = None
    linear: bool = False


def accumulate_rhs(flow: Flow, t: float, x: Any, out: Any, alpha: Any) -> None:
    """``out += alpha · flow.rhs(t, x)`` in place, through ``flow.rhs_into`` when the flow has it."""
    if flow.rhs_into is not None:
        flow.rhs_into(t, x, out, alpha)
        return
    value = flow.rhs(t, x)
    be = backend_of(out)
    if value.dtype != out.dtype:
        raise TypeError(
            f"the substep right-hand side returned {value.dtype} for a {out.dtype} state; "
            "pass Y0 in the field's dtype (complex for complex fields)"
        )
    be.add_scaled_(out, value, alpha)


class Field:
    """Base class of right-hand sides ``F(t, Y)`` for matrix-valued DLRA problems.

    Subclasses implement :meth:`right` and :meth:`left`; everything else has a default built
    from them.  ``shape`` is ``(n, m)`` when the field knows it (None otherwise).
    """

    shape: tuple[int, ...] | None = None
    #: True when F maps real states to complex values (complex coefficients or operators)
    is_complex: bool = False

    # -- the protocol -----------------------------------------------------------------------------
    def right(self, t: float, A: Any, B: Any, W: Any) -> Any:
        """``F(t, A Bᴴ) W``."""
        raise NotImplementedError

    def left(self, t: float, A: Any, B: Any, Z: Any) -> Any:
        """``F(t, A Bᴴ)ᴴ Z``."""
        raise NotImplementedError

    def galerkin(self, t: float, A: Any, B: Any, Z: Any, W: Any) -> Any:
        """``Zᴴ F(t, A Bᴴ) W``."""
        return backend_of(Z).H(Z) @ self.right(t, A, B, W)

    def right_left(self, t: float, A: Any, B: Any, W: Any, Z: Any) -> tuple[Any, Any]:
        """``(F W, Fᴴ Z)`` at one point; fields that evaluate ``F`` densely do it once."""
        return self.right(t, A, B, W), self.left(t, A, B, Z)

    def right_left_at(
        self, t: float, U: Any, S: Any, V: Any, *, cache: dict | None = None
    ) -> tuple[Any, Any]:
        """``(F V, Fᴴ U)`` with ``F = F(t, U S Vᴴ)`` for a factored state with orthonormal ``U``,
        ``V`` (the F½ / F₀ evaluation of the second-order BUGs).  Default: :meth:`right_left`;
        fields sharing projections (``cache``, see :mod:`dlra.fields.projections`) reuse the
        projected operators of ``U`` and ``V``."""
        return self.right_left(t, U @ S, V, V, U)

    # -- substep flows ---------------------------------------------------------------------------
    def k_flow(self, V: Any) -> Flow:
        """K-step: ``K̇ = F(t, K Vᴴ) V``."""
        return Flow(lambda t, K: self.right(t, K, V, V))

    def l_flow(self, U: Any) -> Flow:
        """L-step: ``L̇ = F(t, U Lᴴ)ᴴ U``."""
        return Flow(lambda t, L: self.left(t, U, L, U))

    def s_flow(self, U: Any, V: Any) -> Flow:
        """Galerkin S-step: ``Ṡ = Uᴴ F(t, U S Vᴴ) V``."""
        return Flow(lambda t, S: self.galerkin(t, U @ S, V, U, V))

    # -- checks -------------------------------------------------------------------------------------
    def validate(self, t: float, Y: Any) -> None:
        """Check the field against the initial state (shapes, backend, dtype); raise clear errors."""


class CallableField(Field):
    """A plain function ``F(t, Y)`` of the dense array: the universal path (forms ``Y``; n × m).

    Every projected product forms ``Y = A Bᴴ`` densely and calls ``F`` once.  Use it for small
    problems and as a reference; structured fields avoid the n × m array.
    """

    #: validating it evaluates it; each evaluation checks its value anyway
    validates_by_evaluating = True

    def __init__(self, function: Callable[[float, Any], Any]) -> None:
        if not callable(function):
            raise TypeError(f"F must be callable or a dlra field, got {type(function).__name__}")
        self.function = function

    def __repr__(self) -> str:
        return f"CallableField({getattr(self.function, '__name__', self.function)!r})"

    def evaluate(self, t: float, A: Any, B: Any) -> Any:
        be = backend_of(A, B)
        Y = A @ be.H(B)
        out = self.function(t, Y)
        if not (isinstance(out, np.ndarray) or is_torch_tensor(out)) or backend_of(out) != be:
            raise TypeError(
                f"F returned {type(out).__name__}, expected a {be.name} array like Y (shape "
                f"{tuple(Y.shape)})"
            )
        require_plain_dense(out, "the value F returned")
        if tuple(out.shape) != tuple(Y.shape):
            raise ValueError(
                f"F returned shape {tuple(out.shape)}, expected the shape of Y {tuple(Y.shape)}"
            )
        if be.is_complex(out) and not be.is_complex(Y):
            raise TypeError("F returned complex values for a real state; pass a complex Y0")
        return be.astype(out, Y.dtype)

    def right(self, t: float, A: Any, B: Any, W: Any) -> Any:
        return self.evaluate(t, A, B) @ W

    def left(self, t: float, A: Any, B: Any, Z: Any) -> Any:
        F = self.evaluate(t, A, B)
        return backend_of(F).H(F) @ Z

    def galerkin(self, t: float, A: Any, B: Any, Z: Any, W: Any) -> Any:
        return backend_of(Z).H(Z) @ (self.evaluate(t, A, B) @ W)

    def right_left(self, t: float, A: Any, B: Any, W: Any, Z: Any) -> tuple[Any, Any]:
        F = self.evaluate(t, A, B)
        return F @ W, backend_of(F).H(F) @ Z

    def k_flow(self, V: Any) -> Flow:
        return Flow(
            lambda t, K: self.right(t, K, V, V),
            why_not_exact="F is a plain function; exact substeps need a DataField or a "
            "LinearField with constant coefficients",
        )

    def l_flow(self, U: Any) -> Flow:
        return Flow(
            lambda t, L: self.left(t, U, L, U),
            why_not_exact="F is a plain function; exact substeps need a DataField or a "
            "LinearField with constant coefficients",
        )

    def s_flow(self, U: Any, V: Any) -> Flow:
        return Flow(
            lambda t, S: self.galerkin(t, U @ S, V, U, V),
            why_not_exact="F is a plain function; exact substeps need a DataField or a "
            "LinearField with constant coefficients",
        )

    def validate(self, t: float, Y: Any) -> None:
        U, S, V = Y
        be = backend_of(U)
        F = self.evaluate(t, U @ S, V)
        if not be.all_finite(F):
            raise ValueError(f"F returned NaN or Inf at the initial time t = {t:g}")


def as_field(F: Any) -> Field:
    """A :class:`Field` from a field object or a plain callable ``F(t, Y)``."""
    if isinstance(F, Field):
        return F
    if hasattr(F, "right") and hasattr(F, "left") and hasattr(F, "k_flow"):
        return F  # duck-typed user field following the protocol
    if callable(F):
        return CallableField(F)
    raise TypeError(
        f"F must be a callable F(t, Y) or a dlra field (DataField, LinearField, Field subclass), "
        f"got {type(F).__name__}"
    )
