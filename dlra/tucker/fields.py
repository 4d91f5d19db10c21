"""Right-hand sides for Tucker tensors: the same field objects as for matrices, evaluated mode-wise.

The Tucker integrators need ``F`` only through one *projected product*

    ``project(t, C, [W₁, …, W_d], [B₁, …, B_d]) = F(t, C ×₁ W₁ ⋯ ×_d W_d) ×₁ B₁ᴴ ⋯ ×_d B_dᴴ``

where the ``Wⱼ`` need not be orthonormal (a K-step factor sits in one mode) and ``Bⱼ = None`` keeps
mode j at full size (the K-step of mode j).  From it the substep flows are built:

* mode-``i`` K-step (:meth:`TuckerField.mode_flow`): with the per-mode factorization
  ``C = Gᵢ ×ᵢ Sᵢ`` (:func:`~dlra.tucker.modes.mode_factor`),
  ``K̇ = Matᵢ(F(t, Gᵢ ×ᵢ K ×_{j≠i} Uⱼ) ×_{j≠i} Uⱼᴴ) Matᵢ(Gᵢ)ᴴ`` — the matrix K-step of the
  mode-``i`` unfolding; with ``basis=Uᵢ`` the same equation Galerkin-projected onto ``Uᵢ`` (the
  S-step of projector splitting);
* core Galerkin step (:meth:`TuckerField.core_flow`): ``Ċ = F(t, C ×ⱼ Uⱼ) ×ⱼ Uⱼᴴ``.

Adapters (chosen by :func:`as_tucker_field`):

* a plain callable ``F(t, Y)`` of the dense tensor — forms ``Y`` (Π nᵢ entries) once per product;
* :class:`~dlra.DataField` — ``Ȧ(t)`` projected; exact substeps by increments ``A(t₁) − A(t₀)``;
* :class:`~dlra.LinearField` with d-tuples of per-mode operators,
  ``F(t, Y) = Σₖ cₖ(t) Y ×₁ Aₖ⁽¹⁾ ⋯ ×_d Aₖ⁽ᵈ⁾ + G(t)`` (``G`` a :class:`TuckerTensor` or None) —
  every product is ``Σₖ cₖ C ×ⱼ (Bⱼᴴ Aₖ⁽ʲ⁾ Wⱼ)``: one operator application per mode and term on an
  nⱼ × rⱼ block; the full tensor is never formed.  Flows precompute the projected operators once
  per substep; with constant coefficients and no source ``substep="exact"`` applies the exponential.

User fields subclass :class:`TuckerField` and implement :meth:`~TuckerField.project` (and, for
speed or exact substeps, :meth:`~TuckerField.mode_flow` / :meth:`~TuckerField.core_flow`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from .._backend import backend_of
from .._expm import expm_apply
from ..fields.base import CallableField, Field, Flow
from ..fields.data import DataField
from ..fields.linear import LinearField
from .modes import multi_mode_product, unfold
from .tensor import TuckerTensor

__all__ = [
    "TuckerCallableField",
    "TuckerDataField",
    "TuckerField",
    "TuckerLinearField",
    "as_tucker_field",
]

_NOT_EXACT_CALLABLE = (
    "F is a plain function; exact substeps need a DataField or a LinearField with constant "
    "coefficients"
)


def _replace(seq: Sequence[Any], i: int, value: Any) -> list[Any]:
    out = list(seq)
    out[i] = value
    return out


class TuckerField(Field):
    """Protocol (and base class) of right-hand sides ``F(t, Y)`` for order-d Tucker tensors.

    Subclasses implement :meth:`project`; :meth:`mode_flow` and :meth:`core_flow` have defaults
    built from it.  ``is_complex``: True when F maps real tensors to complex ones.  (A subclass of
    :class:`dlra.Field` so that :func:`dlra.solve` accepts it; the matrix products ``right`` and
    ``left`` do not apply.)
    """

    is_complex: bool = False

    def right(self, t: float, A: Any, B: Any, W: Any) -> Any:
        raise TypeError(
            f"{type(self).__name__} is a Tucker field; the state must be a TuckerTensor"
        )

    left = right

    def project(
        self, t: float, core: Any, factors: Sequence[Any], bases: Sequence[Any | None]
    ) -> Any:
        """``F(t, core ×ⱼ factorsⱼ) ×ⱼ basesⱼᴴ``; ``basesⱼ = None`` keeps mode j full."""
        raise NotImplementedError

    def project_modes(
        self, t: float, core: Any, factors: Sequence[Any], bases: Sequence[Any]
    ) -> list[Any]:
        """``[F(t, Y) ×_{j≠i} Bⱼᴴ for i = 1..d]`` at one point (dense fields evaluate F once)."""
        return [self.project(t, core, factors, _replace(bases, i, None)) for i in range(len(bases))]

    def project_modes_times(
        self,
        t: float,
        core: Any,
        factors: Sequence[Any],
        bases: Sequence[Any],
        rights: Sequence[Any],
    ) -> list[Any]:
        """``[Matᵢ(F(t, Y) ×_{j≠i} Bⱼᴴ) Rᵢ for i = 1..d]``: the mode products of
        :meth:`project_modes` times small matrices ``Rᵢ`` (``Π_{j≠i} bⱼ × kᵢ``).  Structured fields
        override it to skip the ``nᵢ × Π_{j≠i} bⱼ`` intermediate."""
        projections = self.project_modes(t, core, factors, bases)
        return [unfold(P, i) @ R for i, (P, R) in enumerate(zip(projections, rights))]

    def mode_flow(self, i: int, G: Any, factors: Sequence[Any], basis: Any | None = None) -> Flow:
        """Mode-``i`` K-step ``Ẋ = [basisᴴ] Matᵢ(F(t, Gᵢ ×ᵢ [basis] X ×_{j≠i} Uⱼ) ×_{j≠i} Uⱼᴴ) Matᵢ(Gᵢ)ᴴ``.

        ``G``: the orthonormal core of :func:`~dlra.tucker.modes.mode_factor`; ``factors[i]`` is
        ignored.  ``basis=None``: the K-step (X is nᵢ × rᵢ); ``basis=Uᵢ``: its Galerkin
        projection (X is rᵢ × rᵢ; the S-step of projector splitting).
        """
        Gi_h = backend_of(G).H(unfold(G, i))

        def rhs(t: float, X: Any) -> Any:
            fac = _replace(factors, i, X if basis is None else basis @ X)
            P = self.project(t, G, fac, _replace(factors, i, basis))
            return unfold(P, i) @ Gi_h

        return Flow(rhs, None, "this field provides no closed-form substep solution")

    def core_flow(self, factors: Sequence[Any]) -> Flow:
        """Galerkin step ``Ċ = F(t, C ×ⱼ Uⱼ) ×ⱼ Uⱼᴴ``."""
        return Flow(
            lambda t, C: self.project(t, C, factors, factors),
            None,
            "this field provides no closed-form substep solution",
        )

    def validate(self, t: float, Y: TuckerTensor) -> None:
        """Check the field against the initial state; raise errors naming what is wrong."""


class _DuckField(TuckerField):
    """Wraps a user object that has only ``project`` (and maybe ``validate``)."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self.is_complex = bool(getattr(obj, "is_complex", False))

    def project(
        self, t: float, core: Any, factors: Sequence[Any], bases: Sequence[Any | None]
    ) -> Any:
        return self.obj.project(t, core, factors, bases)

    def validate(self, t: float, Y: TuckerTensor) -> None:
        check = getattr(self.obj, "validate", None)
        if check is not None:
            check(t, Y)


class TuckerCallableField(TuckerField):
    """A plain function ``F(t, Y)`` of the dense tensor: forms ``Y`` (Π nᵢ entries) per product."""

    #: validating it evaluates it; each evaluation checks its value anyway
    validates_by_evaluating = True

    def __init__(self, function: Callable[[float, Any], Any]) -> None:
        if not callable(function):
            raise TypeError(f"F must be callable or a dlra field, got {type(function).__name__}")
        self.function = function

    def __repr__(self) -> str:
        return f"TuckerCallableField({getattr(self.function, '__name__', self.function)!r})"

    def evaluate(self, t: float, core: Any, factors: Sequence[Any]) -> Any:
        be = backend_of(core, *factors)
        Y = multi_mode_product(core, factors, be=be)
        out = self.function(t, Y)
        if not hasattr(out, "shape") or backend_of(out) != be:
            raise TypeError(
                f"F returned {type(out).__name__}, expected a {be.name} array like Y (shape "
                f"{tuple(Y.shape)})"
            )
        if tuple(out.shape) != tuple(Y.shape):
            raise ValueError(
                f"F returned shape {tuple(out.shape)}, expected the shape of Y {tuple(Y.shape)}"
            )
        if be.is_complex(out) and not be.is_complex(Y):
            raise TypeError("F returned complex values for a real state; pass a complex Y0")
        return be.astype(out, Y.dtype)

    def project(
        self, t: float, core: Any, factors: Sequence[Any], bases: Sequence[Any | None]
    ) -> Any:
        return multi_mode_product(self.evaluate(t, core, factors), bases, adjoint=True)

    def project_modes(
        self, t: float, core: Any, factors: Sequence[Any], bases: Sequence[Any]
    ) -> list[Any]:
        F = self.evaluate(t, core, factors)
        return [
            multi_mode_product(F, _replace(bases, i, None), adjoint=True) for i in range(len(bases))
        ]

    def mode_flow(self, i: int, G: Any, factors: Sequence[Any], basis: Any | None = None) -> Flow:
        flow = super().mode_flow(i, G, factors, basis)
        return Flow(flow.rhs, None, _NOT_EXACT_CALLABLE)

    def core_flow(self, factors: Sequence[Any]) -> Flow:
        return Flow(lambda t, C: self.project(t, C, factors, factors), None, _NOT_EXACT_CALLABLE)

    def validate(self, t: float, Y: TuckerTensor) -> None:
        F = self.evaluate(t, Y.core, Y.factors)
        if not Y.backend.all_finite(F):
            raise ValueError(f"F returned NaN or Inf at the initial time t = {t:g}")


class TuckerDataField(TuckerField):
    """:class:`~dlra.DataField` ``A(t)`` for tensors: ``F = Ȧ(t)`` projected, exact increments."""

    def __init__(self, field: DataField) -> None:
        self.field = field
        self._derivatives: dict[float, Any] = {}

    def __repr__(self) -> str:
        return f"TuckerDataField({self.field!r})"

    def derivative(self, t: float) -> Any:
        """``Ȧ(t)``, cached for the few stage times of one step (every mode's K-step and the
        C-step evaluate it at the same times)."""
        key = float(t)
        D = self._derivatives.get(key)
        if D is None:
            if len(self._derivatives) >= 8:
                self._derivatives.pop(next(iter(self._derivatives)))
            D = self._derivatives[key] = self.field.derivative(t)
        return D

    def project(
        self, t: float, core: Any, factors: Sequence[Any], bases: Sequence[Any | None]
    ) -> Any:
        return multi_mode_product(self.derivative(t), bases, adjoint=True)

    def project_modes(
        self, t: float, core: Any, factors: Sequence[Any], bases: Sequence[Any]
    ) -> list[Any]:
        D = self.derivative(t)
        return [
            multi_mode_product(D, _replace(bases, i, None), adjoint=True) for i in range(len(bases))
        ]

    def _mode_projection(
        self, D: Any, i: int, G: Any, factors: Sequence[Any], basis: Any | None
    ) -> Any:
        be = backend_of(G)
        P = multi_mode_product(D, _replace(factors, i, basis), adjoint=True)
        return unfold(P, i) @ be.H(unfold(G, i))

    def mode_flow(self, i: int, G: Any, factors: Sequence[Any], basis: Any | None = None) -> Flow:
        field = self.field

        def rhs(t: float, X: Any) -> Any:
            return self._mode_projection(self.derivative(t), i, G, factors, basis)

        def exact(X0: Any, t0: float, t1: float, sign: float) -> Any:
            return X0 + sign * self._mode_projection(field.increment(t0, t1), i, G, factors, basis)

        return Flow(rhs, exact)

    def core_flow(self, factors: Sequence[Any]) -> Flow:
        field = self.field

        def rhs(t: float, C: Any) -> Any:
            return multi_mode_product(self.derivative(t), factors, adjoint=True)

        def exact(C0: Any, t0: float, t1: float, sign: float) -> Any:
            return C0 + sign * multi_mode_product(field.increment(t0, t1), factors, adjoint=True)

        return Flow(rhs, exact)

    def validate(self, t: float, Y: TuckerTensor) -> None:
        self.field.check_values(Y.backend, t, Y.shape, real=not Y.backend.is_complex(Y.core))


class TuckerLinearField(TuckerField):
    """:class:`~dlra.LinearField` with d-tuples of per-mode operators, never forming the tensor.

    ``F(t, Y) = Σₖ cₖ(t) Y ×₁ Aₖ⁽¹⁾ ⋯ ×_d Aₖ⁽ᵈ⁾ + G(t)``.  A projected product costs one application
    of each non-identity ``Aₖ⁽ʲ⁾`` to an nⱼ × rⱼ block, a few r × r products and mode products on the
    core (``O(Σₖ Σⱼ rⱼ Π r)``).
    """

    def __init__(self, field: LinearField) -> None:
        self.field = field
        self.is_complex = field.is_complex

    def __repr__(self) -> str:
        return f"TuckerLinearField({self.field!r})"

    # -- products -----------------------------------------------------------------------------
    def _source(self, t: float) -> TuckerTensor | None:
        src = self.field.source
        if src is None:
            return None
        G = src(t)
        if not isinstance(G, TuckerTensor):
            raise TypeError(
                f"source(t) must return a TuckerTensor for a Tucker state, got {type(G).__name__}"
            )
        return G

    @staticmethod
    def _small(op: Any, basis: Any | None, factor: Any) -> Any | None:
        """``basisᴴ A factor`` (``A factor`` when basis is None); None for identity and no basis."""
        if op.identity:
            return None if basis is None else backend_of(basis).H(basis) @ factor
        if basis is None:
            return op.apply(factor)
        return op.small(basis, factor)

    def _source_projection(self, t: float, bases: Sequence[Any | None]) -> Any | None:
        G = self._source(t)
        if G is None:
            return None
        be = G.backend
        mats = [W if B is None else be.H(B) @ W for W, B in zip(G.factors, bases)]
        return multi_mode_product(G.core, mats, be=be)

    def project(
        self, t: float, core: Any, factors: Sequence[Any], bases: Sequence[Any | None]
    ) -> Any:
        be = backend_of(core, *factors)
        real = not be.is_complex(core)  # a callable coefficient must stay real
        field = self.field
        out = None
        for k, term in enumerate(field.terms):
            mats = []
            for op, W, B in zip(term, factors, bases):
                m = self._small(op, B, W)
                mats.append(W if m is None else m)
            x = multi_mode_product(core, mats, be=be) * field.coefficient(k, t, real=real)
            out = x if out is None else out + x
        src = self._source_projection(t, bases)
        return out if src is None else out + src

    def project_modes_times(
        self,
        t: float,
        core: Any,
        factors: Sequence[Any],
        bases: Sequence[Any],
        rights: Sequence[Any],
    ) -> list[Any]:
        """Per mode and term: the small core ``core ×_{j≠i} (Bⱼᴴ Aⱼ Wⱼ)`` times ``Rᵢ`` first, the
        tall factor ``Aᵢ Wᵢ`` last — no ``nᵢ × Π_{j≠i} bⱼ`` array (cost ``O(nᵢ rᵢ kᵢ)`` per term
        beyond the operator applications)."""
        be = backend_of(core, *factors)
        real = not be.is_complex(core)  # a callable coefficient must stay real
        field = self.field
        d = len(factors)
        # per term, once: every mode's projected factor Bⱼᴴ Aⱼ Wⱼ and applied factor Aⱼ Wⱼ
        terms = []
        for k, term in enumerate(field.terms):
            projected = [_or(self._small(op, B, W), W) for op, B, W in zip(term, bases, factors)]
            applied = [_or(self._small(op, None, W), W) for op, W in zip(term, factors)]
            terms.append((projected, applied, field.coefficient(k, t, real=real)))
        G = self._source(t)
        if G is not None:
            G_projected = [be.H(B) @ W for B, W in zip(bases, G.factors)]
        out: list[Any] = []
        for i in range(d):
            acc = None
            for projected, applied, coefficient in terms:
                mats = _replace(projected, i, None)
                small = unfold(multi_mode_product(core, mats, be=be), i) @ rights[i]
                x = (applied[i] @ small) * coefficient
                acc = x if acc is None else acc + x
            if G is not None:
                mats = _replace(G_projected, i, None)
                small = unfold(multi_mode_product(G.core, mats, be=be), i) @ rights[i]
                acc = acc + G.factors[i] @ small
            out.append(acc)
        return out

    # -- flows --------------------------------------------------------------------------------
    def mode_flow(self, i: int, G: Any, factors: Sequence[Any], basis: Any | None = None) -> Flow:
        be = backend_of(G)
        real = not be.is_complex(G)  # a callable coefficient must stay real
        field = self.field
        Gi_h = be.H(unfold(G, i))
        lefts: list[Any] = []
        rights: list[Any | None] = []
        for term in field.terms:
            mats = [
                None if j == i or term[j].identity else term[j].small(factors[j], factors[j])
                for j in range(len(term))
            ]
            if all(m is None for m in mats):
                rights.append(None)
            else:
                rights.append(unfold(multi_mode_product(G, mats, be=be), i) @ Gi_h)
            op = term[i]
            if basis is None or op.identity:
                lefts.append(op)  # applied as an operator (identity: skipped)
            else:
                lefts.append(op.small(basis, basis))

        def apply_left(k: int, X: Any) -> Any:
            left = lefts[k]
            if hasattr(left, "apply"):
                return left.apply(X)
            return left @ X

        def linear(t: float, X: Any) -> Any:
            out = None
            for k in range(len(field.terms)):
                x = X if rights[k] is None else X @ rights[k]
                x = apply_left(k, x) * field.coefficient(k, t, real=real)
                out = x if out is None else out + x
            return out

        src_bases = _replace(factors, i, basis)

        def rhs(t: float, X: Any) -> Any:
            out = linear(t, X)
            src = self._source_projection(t, src_bases)
            return out if src is None else out + unfold(src, i) @ Gi_h

        norms = []
        for k in range(len(field.terms)):
            left = lefts[k]
            a = left.norm_bound() if hasattr(left, "norm_bound") else _norm2(left)
            norms.append(a * _norm2(rights[k]))
        return self._flow(rhs, linear, norms)

    def core_flow(self, factors: Sequence[Any]) -> Flow:
        be = backend_of(*factors)
        real = not be.is_complex(factors[0])  # a callable coefficient must stay real
        field = self.field
        smalls = [
            [None if op.identity else op.small(U, U) for op, U in zip(term, factors)]
            for term in field.terms
        ]

        def linear(t: float, C: Any) -> Any:
            out = None
            for k, mats in enumerate(smalls):
                x = multi_mode_product(C, mats, be=be) * field.coefficient(k, t, real=real)
                out = x if out is None else out + x
            return out

        def rhs(t: float, C: Any) -> Any:
            out = linear(t, C)
            src = self._source_projection(t, factors)
            return out if src is None else out + src

        norms = [math.prod(_norm2(m) for m in mats) for mats in smalls]
        return self._flow(rhs, linear, norms)

    def _flow(self, rhs: Callable, linear: Callable, norms: list[float]) -> Flow:
        field = self.field
        if not field.autonomous_linear:
            why = (
                "exact substeps need a LinearField without source term"
                if field.source is not None
                else "exact substeps need constant (not callable) coefficients"
            )
            return Flow(rhs, None, why)
        bound = sum(abs(complex(c)) * n for c, n in zip(field.coeffs, norms))

        def exact(X0: Any, t0: float, t1: float, sign: float) -> Any:
            return expm_apply(lambda X: linear(t0, X), X0, sign * (t1 - t0), bound)

        return Flow(rhs, exact, linear=True)

    # -- checks ---------------------------------------------------------------------------------
    def validate(self, t: float, Y: TuckerTensor) -> None:
        field = self.field
        shape = Y.shape
        if field.ndim != len(shape):
            raise ValueError(
                f"the LinearField terms have {field.ndim} operators each but Y0 has {len(shape)} "
                f"modes; give one operator (or None) per mode"
            )
        like = Y.core
        for k, term in enumerate(field.terms):
            for i, op in enumerate(term):
                op.check_backend(like)
                if op.shape is not None and op.shape[0] != shape[i]:
                    raise ValueError(
                        f"terms[{k}][{i}] has shape {op.shape} but Y0 has size {shape[i]} in mode {i}"
                    )
        be = Y.backend
        real_state = not be.is_complex(like)
        field.check_coefficients(t, real_state, "Y0.astype(numpy.complex128)")
        field.check_source(t, be, shape, real_state, "TuckerTensor")


def _or(value: Any | None, default: Any) -> Any:
    return default if value is None else value


def _norm2(x: Any | None) -> float:
    """Spectral norm of a small projected matrix (1 for the identity, None): the exponential of the
    exact substeps takes ``⌈h·Σ|cₖ| Πⱼ‖Mₖⱼ‖₂⌉`` Taylor steps, so a tight bound saves work."""
    if x is None:
        return 1.0
    be = backend_of(x)
    return float(be.to_numpy(be.svd(x)[1])[0]) if min(be.shape(x)) > 0 else 0.0


def as_tucker_field(F: Any) -> TuckerField:
    """The :class:`TuckerField` for ``F``: a Tucker field, a :class:`~dlra.DataField`, a
    :class:`~dlra.LinearField` with d-tuples of operators, a plain callable ``F(t, Y)`` on dense
    tensors, or any object with a ``project(t, core, factors, bases)`` method."""
    if isinstance(F, TuckerField):
        return F
    if isinstance(F, DataField):
        return TuckerDataField(F)
    if isinstance(F, LinearField):
        return TuckerLinearField(F)
    if isinstance(F, CallableField):
        return TuckerCallableField(F.function)
    if hasattr(F, "project") and callable(F.project):
        return _DuckField(F)
    if isinstance(F, Field):
        raise TypeError(
            f"{type(F).__name__} implements the matrix protocol (right/left/galerkin) only; for a "
            "TuckerTensor state subclass dlra.tucker.TuckerField and implement project(t, core, "
            "factors, bases), or pass a plain callable F(t, Y)"
        )
    if callable(F):
        return TuckerCallableField(F)
    raise TypeError(
        "F must be a callable F(t, Y), a DataField, a LinearField or a TuckerField, got "
        f"{type(F).__name__}"
    )
