"""Linear (Sylvester-type) fields ``F(t, Y) = Σₖ cₖ(t) Aₖ Y Bₖᵀ + G(t)`` that never form Y."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from .._backend import backend_of
from .._expm import expm_apply
from .._workspace import product_scratch
from ..linalg import inplace_ok
from . import projections
from .base import Field, Flow
from .operators import Operator, as_operator

__all__ = ["LinearField"]

Coefficient = complex | float | Callable[[float], complex]


class LinearField(Field):
    """``F(t, Y) = Σₖ cₖ(t) Aₖ Y Bₖᵀ + G(t)``, evaluated from the factors of Y only.

    Parameters
    ----------
    terms
        Sequence of pairs ``(A, B)`` acting on rows and columns (``None`` = identity).  Operators may
        be numpy arrays, scipy sparse matrices, scipy ``LinearOperator`` s, torch dense or sparse
        tensors — of the same library as the state.  For Tucker tensors each term is a d-tuple of
        per-mode operators (``Y ×₁ A⁽¹⁾ ⋯ ×_d A⁽ᵈ⁾``); a pair is the d = 2 case.
    coeffs
        One coefficient per term: numbers (complex allowed, e.g. ``-1j`` for Schrödinger) or
        callables of t.  Default: all 1.
    source
        None or a callable ``t -> LowRankMatrix`` (``TuckerTensor`` for tensors) giving ``G(t)``.

    Notes
    -----
    Cost of one projected product on rank-r factors: one application of each ``Aₖ`` and ``Bₖ`` to an
    n × r (m × r) block plus ``O((n + m) r²)``; substep flows precompute the projected operators
    ``Uᴴ Aₖ U`` and ``Vᴴ Bₖᵀ V`` once per substep.  With constant coefficients and no source every
    substep is linear with constant coefficients and ``substep="exact"`` applies its exponential
    (Taylor series with scaling, see :mod:`dlra._expm`).
    """

    #: the flows accept ``cache=`` to share projected operators within a step (StepContext)
    shares_projections = True

    def __init__(
        self,
        terms: Sequence[Sequence[Any]],
        coeffs: Sequence[Coefficient] | None = None,
        source: Callable[[float], Any] | None = None,
    ) -> None:
        if isinstance(terms, (str, bytes)) or not isinstance(terms, Sequence) or not terms:
            raise TypeError("terms must be a non-empty sequence of operator tuples like [(A, B)]")
        orders = set()
        ops: list[tuple[Operator, ...]] = []
        for k, term in enumerate(terms):
            if isinstance(term, (str, bytes)) or not isinstance(term, Sequence):
                raise TypeError(f"terms[{k}] must be a tuple of operators (None = identity)")
            orders.add(len(term))
            ops.append(tuple(as_operator(op, f"terms[{k}][{i}]") for i, op in enumerate(term)))
        if len(orders) != 1 or min(orders) < 2:
            raise ValueError(
                f"every term must have the same number (≥ 2) of operators, got lengths {sorted(orders)}"
            )
        self.ndim = orders.pop()
        self.terms = ops
        if coeffs is None:
            coeffs = [1.0] * len(ops)
        if isinstance(coeffs, (str, bytes)) or not isinstance(coeffs, Sequence):
            raise TypeError("coeffs must be a sequence with one number or callable per term")
        if len(coeffs) != len(ops):
            raise ValueError(f"coeffs has {len(coeffs)} entries but there are {len(ops)} terms")
        for k, c in enumerate(coeffs):
            if not (callable(c) or isinstance(c, numbers.Number)) or isinstance(c, bool):
                raise TypeError(f"coeffs[{k}] must be a number or a callable of t, got {c!r}")
            if isinstance(c, numbers.Number) and not math.isfinite(abs(complex(c))):
                raise ValueError(f"coeffs[{k}] must be finite, got {c!r}")
        # numbers as Python scalars: complex only with a nonzero imaginary part (numpy's complex64
        # is not a `complex`, and the L-flows conjugate exactly the `complex` ones)
        self.coeffs = [c if callable(c) else _as_scalar(c) for c in coeffs]
        if source is not None and not callable(source):
            raise TypeError(f"source must be None or a callable t -> LowRankMatrix, got {source!r}")
        self.source = source
        #: (backend, shape, real, kind) of the state validated against (check_source): later
        #: values of source(t) are checked against it as they come
        self._source_expected: tuple[Any, tuple[int, ...], bool, str] | None = None
        sizes: list[int | None] = [None] * self.ndim
        for k, term in enumerate(ops):
            for i, op in enumerate(term):
                if op.shape is None:
                    continue
                if sizes[i] is not None and sizes[i] != op.shape[0]:
                    raise ValueError(
                        f"terms[{k}][{i}] has size {op.shape[0]} but another operator of mode {i} "
                        f"has size {sizes[i]}"
                    )
                sizes[i] = op.shape[0]
        self.sizes = tuple(sizes)
        self.is_complex = any(op.is_complex for term in ops for op in term) or any(
            isinstance(c, complex) for c in self.coeffs
        )

    def __repr__(self) -> str:
        return f"LinearField({len(self.terms)} terms, order {self.ndim}, sizes {self.sizes})"

    # -- helpers ----------------------------------------------------------------------------------
    def coefficient(self, k: int, t: float, *, real: bool = False) -> complex | float:
        """``cₖ(t)`` as a Python number (complex only with a nonzero imaginary part).  ``real``:
        the state is real, so a complex value of a callable coefficient is a TypeError (constant
        ones are checked by :meth:`validate`)."""
        c = self.coeffs[k]
        if not callable(c):
            return c
        value = c(t)
        scalar = isinstance(value, numbers.Number) or (
            hasattr(value, "dtype") and tuple(getattr(value, "shape", ())) == ()
        )
        if not scalar or isinstance(value, bool):
            raise TypeError(f"coeffs[{k}] returned {value!r} at t = {t:g}; expected a number")
        value = _as_scalar(value)
        if real and isinstance(value, complex):
            raise TypeError(
                f"coeffs[{k}] is complex ({value!r} at t = {t:g}) but Y0 is real; pass a "
                "complex Y0 (e.g. LowRankMatrix.from_dense(A.astype(complex)))"
            )
        return value

    @property
    def autonomous_linear(self) -> bool:
        """True when every coefficient is constant and there is no source (exact substeps apply)."""
        return self.source is None and not any(callable(c) for c in self.coeffs)

    def _why_not_exact(self) -> str:
        if self.source is not None:
            return "exact substeps need a LinearField without source term"
        return "exact substeps need constant (not callable) coefficients"

    def _require_matrix(self) -> None:
        if self.ndim != 2:
            raise ValueError(f"this LinearField has {self.ndim}-mode terms; a matrix needs pairs")

    def _source(self, t: float) -> Any:
        if self.source is None:
            return None
        G = self.source(t)
        if self._source_expected is not None:
            _check_source_value(G, t, *self._source_expected)
        return G

    # -- projected products (the field protocol) --------------------------------------------------
    def right(self, t: float, A: Any, B: Any, W: Any) -> Any:
        self._require_matrix()
        be = backend_of(A)
        real = not be.is_complex(A)  # a callable coefficient must stay real
        out = None
        for k, (opa, opb) in enumerate(self.terms):
            small = be.H(B) @ opb.apply_transpose(W)
            out = _accumulate(be, out, opa.apply(A @ small), self.coefficient(k, t, real=real))
        G = self._source(t)
        if G is not None:
            out = out + _source_right(be, G, W)
        return out

    def left(self, t: float, A: Any, B: Any, Z: Any) -> Any:
        self._require_matrix()
        be = backend_of(A)
        real = not be.is_complex(A)  # a callable coefficient must stay real
        out = None
        for k, (opa, opb) in enumerate(self.terms):
            small = be.H(A) @ opa.apply_adjoint(Z)
            out = _accumulate(
                be, out, opb.apply_conj(B @ small), _conj(self.coefficient(k, t, real=real))
            )
        G = self._source(t)
        if G is not None:
            out = out + _source_left(be, G, Z)
        return out

    def galerkin(self, t: float, A: Any, B: Any, Z: Any, W: Any) -> Any:
        self._require_matrix()
        be = backend_of(A)
        real = not be.is_complex(A)  # a callable coefficient must stay real
        out = None
        for k, (opa, opb) in enumerate(self.terms):
            term = (be.H(opa.apply_adjoint(Z)) @ A) @ (be.H(B) @ opb.apply_transpose(W))
            term = term * self.coefficient(k, t, real=real)
            out = term if out is None else out + term
        G = self._source(t)
        if G is not None:
            out = out + (be.H(Z) @ G.U) @ G.S @ (be.H(G.V) @ W)
        return out

    def right_left_at(
        self, t: float, U: Any, S: Any, V: Any, *, cache: dict | None = None
    ) -> tuple[Any, Any]:
        """``(F V, Fᴴ U)`` at ``Y = U S Vᴴ`` (orthonormal ``U``, ``V``) from the projected
        operators: ``F V = Σₖ cₖ Aₖ U (S · Vᴴ Bₖᵀ V)`` and ``Fᴴ U = Σₖ c̄ₖ B̄ₖ V (Sᴴ · (Uᴴ Aₖ U)ᴴ)``,
        with ``Vᴴ Bₖᵀ V`` and ``Uᴴ Aₖ U`` taken from ``cache`` (or computed and put there for the
        rest of the step).  Identity operators contribute ``U S`` and ``V Sᴴ`` (orthonormal
        bases).  Cost: one application of each non-identity operator and one n × r × r product
        per term and side, where the general :meth:`right_left` takes two more."""
        self._require_matrix()
        be = backend_of(U)
        real = not be.is_complex(U)  # a callable coefficient must stay real
        right = [self.projected("right", k, V, cache) for k in range(len(self.terms))]
        left = [self.projected("left", k, U, cache) for k in range(len(self.terms))]
        SH = be.H(S)
        FV = FhU = None
        for k, (opa, opb) in enumerate(self.terms):
            c = self.coefficient(k, t, real=real)
            small = S if right[k] is None else S @ right[k]
            FV = _accumulate(be, FV, opa.apply(product_scratch(U, small)), c)
            small = SH if left[k] is None else SH @ be.H(left[k])
            FhU = _accumulate(be, FhU, opb.apply_conj(product_scratch(V, small)), _conj(c))
        G = self._source(t)
        if G is not None:
            FV = FV + _source_right(be, G, V)
            FhU = FhU + _source_left(be, G, U)
        return FV, FhU

    # -- substep flows with projected operators precomputed ---------------------------------------
    def k_flow(self, V: Any, *, cache: dict | None = None) -> Flow:
        """K-step flow; the projected operators ``Vᴴ Bₖᵀ V`` are computed once (and shared through
        ``cache`` with the other substeps of the same step, see :meth:`projected`)."""
        self._require_matrix()
        be = backend_of(V)
        real = not be.is_complex(V)  # a callable coefficient must stay real
        small = [self.projected("right", k, V, cache) for k in range(len(self.terms))]

        def linear(t: float, K: Any) -> Any:
            out = None
            for k, (opa, _) in enumerate(self.terms):
                x = K if small[k] is None else K @ small[k]
                owned = opa.returns_new or x is not K  # never update the state K in place
                out = _accumulate(be, out, opa.apply(x), self.coefficient(k, t, real=real), owned)
            return out

        def rhs(t: float, K: Any) -> Any:
            out = linear(t, K)
            G = self._source(t)
            return out if G is None else out + _source_right(be, G, V)

        def rhs_into(t: float, K: Any, out: Any, alpha: Any) -> None:
            for k, (opa, _) in enumerate(self.terms):
                c = alpha * self.coefficient(k, t, real=real)
                if small[k] is None:
                    opa.accumulate(K, out, c)
                elif opa.identity:
                    be.add_product_(out, K, small[k], c)
                else:  # a two-sided term: one temporary block
                    opa.accumulate(K @ small[k], out, c)
            G = self._source(t)
            if G is not None:
                be.add_product_(out, G.U, G.S @ (be.H(G.V) @ V), alpha)

        def bound() -> float:
            return self._bound(
                [(opa.norm_bound(), _norm2(be, s)) for (opa, _), s in zip(self.terms, small)]
            )

        return self._flow(rhs, linear, bound, rhs_into)

    def l_flow(self, U: Any, *, cache: dict | None = None) -> Flow:
        """L-step flow; the projected operators ``Uᴴ Aₖ U`` are computed once (or taken from
        ``cache``)."""
        self._require_matrix()
        be = backend_of(U)
        real = not be.is_complex(U)  # a callable coefficient must stay real
        small = [self.projected("left", k, U, cache) for k in range(len(self.terms))]
        # small[k] = Uᴴ A_k U; the L-step needs L (Uᴴ A_k U)ᴴ
        small_h = [None if s is None else be.H(s) for s in small]

        def linear(t: float, L: Any) -> Any:
            out = None
            for k, (_, opb) in enumerate(self.terms):
                x = L if small_h[k] is None else L @ small_h[k]
                owned = opb.returns_new or x is not L
                out = _accumulate(
                    be, out, opb.apply_conj(x), _conj(self.coefficient(k, t, real=real)), owned
                )
            return out

        def rhs(t: float, L: Any) -> Any:
            out = linear(t, L)
            G = self._source(t)
            return out if G is None else out + _source_left(be, G, U)

        def rhs_into(t: float, L: Any, out: Any, alpha: Any) -> None:
            for k, (_, opb) in enumerate(self.terms):
                c = alpha * _conj(self.coefficient(k, t, real=real))
                if small_h[k] is None:
                    opb.accumulate(L, out, c, conj=True)
                elif opb.identity:
                    be.add_product_(out, L, small_h[k], c)
                else:
                    opb.accumulate(L @ small_h[k], out, c, conj=True)
            G = self._source(t)
            if G is not None:
                be.add_product_(out, G.V, be.H(G.S) @ (be.H(G.U) @ U), alpha)

        def bound() -> float:
            return self._bound(
                [(opb.norm_bound(), _norm2(be, s)) for (_, opb), s in zip(self.terms, small)]
            )

        return self._flow(rhs, linear, bound, rhs_into)

    def s_flow(self, U: Any, V: Any, *, cache: dict | None = None) -> Flow:
        """Galerkin flow on ``(U, V)``; projected operators computed once (or taken from ``cache``)."""
        self._require_matrix()
        be = backend_of(U)
        real = not be.is_complex(U)  # a callable coefficient must stay real
        left = [self.projected("left", k, U, cache) for k in range(len(self.terms))]
        right = [self.projected("right", k, V, cache) for k in range(len(self.terms))]

        def linear(t: float, S: Any) -> Any:
            out = None
            for k in range(len(self.terms)):
                x = S if left[k] is None else left[k] @ S
                x = x if right[k] is None else x @ right[k]
                term = x * self.coefficient(k, t, real=real)
                out = term if out is None else out + term
            return out

        def rhs(t: float, S: Any) -> Any:
            out = linear(t, S)
            G = self._source(t)
            return out if G is None else out + (be.H(U) @ G.U) @ G.S @ (be.H(G.V) @ V)

        def bound() -> float:
            return self._bound([(_norm2(be, a), _norm2(be, b)) for a, b in zip(left, right)])

        return self._flow(rhs, linear, bound)

    def projected(self, side: str, k: int, X: Any, cache: dict | None = None) -> Any:
        """The projected operator of term ``k``: ``Xᴴ Aₖ X`` (``side="left"``) or ``Xᴴ Bₖᵀ X``
        (``side="right"``); None for an identity.

        ``cache`` (a dict owned by one integrator step, :class:`~dlra.integrators.base.StepContext`)
        shares the result between the K-, L- and S-steps of the step that use the same basis
        object (projector splitting and Strang reuse every basis; cost saved per hit: one operator
        application and one Gram-sized product on an n × r block).  Entries are keyed by the
        basis object's identity and hold a reference to it, so a key cannot be reused by another
        array while the cache lives; bases are never modified in place during a step.
        """
        op = self.terms[k][0 if side == "left" else 1]
        if op.identity:
            return None
        key = (id(self), side, k, id(X))
        if cache is not None:
            hit = cache.get(key)
            if hit is not None and hit[0] is X:
                return hit[1]
        be = backend_of(X)
        value = self._projected_by_blocks(be, side, k, op, X, cache)
        if value is None:
            value = _projected_in_full(be, side, op, X)
        if cache is not None:
            cache[key] = (X, value)
        return value

    def _projected_by_blocks(
        self, be: Any, side: str, k: int, op: Operator, X: Any, cache: dict | None
    ) -> Any | None:
        """``Xᴴ M X`` (``M = Aₖ`` on the left, ``Bₖᵀ`` on the right) for an augmented basis
        ``X = [X₀, X̃]`` whose ``X₀ᴴ M X₀`` is known in this step: only the blocks with the new
        columns are computed, ``Xᴴ (M X̃)`` and ``X̃ᴴ M X₀`` (the adjoint of a block already
        computed when ``M`` is Hermitian).  Cost: one application of ``M`` (two if not Hermitian)
        to the p new columns and n (r + p) p multiplications, instead of an application to all
        r + p columns and n (r + p)² multiplications.  None when ``X`` is not such a basis."""
        record = projections.augmented_from(cache, X)
        if record is None:
            return None
        lead = record.lead_projection(cache, id(self), side, k)
        if lead is None:
            return None
        r = record.width
        head, new = X[:, :r], X[:, r:]
        if side == "left":
            apply, apply_adjoint = op.apply, op.apply_adjoint
        else:  # M = Bᵀ, Mᴴ = conj(B)
            apply, apply_adjoint = op.apply_transpose, op.apply_conj
        column = be.inner(X, apply(new))  # [X₀ᴴ M X̃; X̃ᴴ M X̃]
        if op.is_hermitian:  # M = Bᵀ is Hermitian exactly when B is
            row = be.H(column[:r])
        else:
            row = be.inner(apply_adjoint(new), head)  # X̃ᴴ M X₀ = (Mᴴ X̃)ᴴ X₀
        return be.concat(
            [be.concat([lead, column[:r]], axis=1), be.concat([row, column[r:]], axis=1)], axis=0
        )

    def _bound(self, norms: list[tuple[float, float]]) -> float:
        return (
            sum(abs(complex(self.coeffs[k])) * a * b for k, (a, b) in enumerate(norms))
            if (self.autonomous_linear)
            else math.inf
        )

    def _flow(
        self,
        rhs: Callable,
        linear: Callable,
        bound: Callable[[], float],
        rhs_into: Callable | None = None,
    ) -> Flow:
        """``bound`` (a norm bound of ``linear``, needed by exact substeps only) is computed lazily;
        ``rhs_into`` accumulates ``rhs`` in place (K- and L-flows, for low-storage substeps)."""
        if not self.autonomous_linear:
            return Flow(rhs, None, self._why_not_exact(), rhs_into)

        def exact(X0: Any, t0: float, t1: float, sign: float) -> Any:
            return expm_apply(lambda X: linear(t0, X), X0, sign * (t1 - t0), bound())

        return Flow(rhs, exact, rhs_into=rhs_into, linear=True)

    # -- checks -------------------------------------------------------------------------------------
    def validate(self, t: float, Y: Any) -> None:
        self._require_matrix()
        U, _, V = Y
        be = backend_of(U)
        shape = (be.shape(U)[0], be.shape(V)[0])
        for k, term in enumerate(self.terms):
            for i, op in enumerate(term):
                op.check_backend(U)
                if op.shape is not None and op.shape[0] != shape[i]:
                    raise ValueError(
                        f"terms[{k}][{i}] has shape {op.shape} but Y0 has {shape[i]} "
                        f"{'rows' if i == 0 else 'columns'}"
                    )
        real_state = not be.is_complex(U)
        self.check_coefficients(t, real_state, "LowRankMatrix.from_dense(A.astype(complex))")
        self.check_source(t, be, shape, real_state, "LowRankMatrix")

    def check_coefficients(self, t: float, real: bool, hint: str) -> None:
        """Every coefficient is a number at ``t``, and for a ``real`` state neither a coefficient
        nor an operator is complex (``hint``: how to make the state complex)."""
        for k in range(len(self.terms)):
            c = self.coefficient(k, t, real=real)
            if real and isinstance(c, complex):
                raise TypeError(
                    f"coeffs[{k}] is complex ({c!r}) but Y0 is real; pass a complex Y0 "
                    f"(e.g. {hint})"
                )
        if real and self.is_complex:
            raise TypeError(
                "this LinearField has complex operators but Y0 is real; pass a complex Y0"
            )

    def check_source(
        self, t: float, be: Any, shape: tuple[int, ...], real: bool, kind: str
    ) -> None:
        """``source(t)`` is a low-rank object of the state's ``kind`` (``"LowRankMatrix"`` or
        ``"TuckerTensor"``), library (``be``) and ``shape``, not complex for a ``real`` state."""
        if self.source is None:
            return
        expected = (be, tuple(shape), real, kind)
        _check_source_value(self.source(t), t, *expected)
        self._source_expected = expected


def _check_source_value(G: Any, t: float, be: Any, shape: tuple, real: bool, kind: str) -> None:
    """See :meth:`LinearField.check_source`; ``t`` is named in the messages."""
    if type(G).__name__ != kind or not hasattr(G, "backend"):
        raise TypeError(f"source(t) must return a {kind}, got {type(G).__name__} (at t = {t:g})")
    if G.backend != be:
        raise TypeError(f"source(t) returned a {G.backend.name} {kind} but Y0 is {be.name}")
    if tuple(G.shape) != tuple(shape):
        raise ValueError(
            f"source(t) has shape {tuple(G.shape)}, expected {tuple(shape)} like Y0 (at t = {t:g})"
        )
    if real and be.is_complex(G.core if kind == "TuckerTensor" else G.S):
        raise TypeError(f"source(t) is complex but Y0 is real (at t = {t:g}); pass a complex Y0")


def _accumulate(be: Any, out: Any, term: Any, c: Any, owned: bool = True) -> Any:
    """``out + term · c`` (``term · c`` when ``out`` is None) with as few passes over the block as
    possible: the factor 1 is skipped (multiplying by 1 is exact) and owned buffers (``out``
    always, ``term`` when ``owned``) are updated in place; the floating-point result equals the
    plain expression.  Falls back to it for coefficients that promote the dtype, non-scalar
    coefficients and torch tensors that track gradients."""
    scalar = isinstance(c, (int, float, complex)) and not isinstance(c, bool)
    if scalar and isinstance(c, complex) and not be.is_complex(term):
        scalar = False  # a complex factor promotes a real block: keep the plain expression
    if out is None:
        if scalar and c == 1:
            return term if owned else term * c
        if scalar and owned and inplace_ok(be, term, term):
            term *= c
            return term
        return term * c
    if scalar and c != 1:
        if owned and inplace_ok(be, term, term):
            term *= c
        else:
            term = term * c
    elif not scalar:
        return out + term * c
    if inplace_ok(be, out, term):
        out += term
        return out
    return out + term


def _projected_in_full(be: Any, side: str, op: Operator, X: Any) -> Any:
    """``Xᴴ A X`` (``side="left"``) or ``Xᴴ Aᵀ X`` (``side="right"``) from all columns of ``X``."""
    if side == "left":
        return op.sandwich(X)
    if not op.is_complex:
        return be.H(op.sandwich(X))  # Xᴴ Aᵀ X = (Xᴴ A X)ᴴ for a real A
    return be.inner(X, op.apply_transpose(X))


def _source_right(be: Any, G: Any, W: Any) -> Any:
    """``G W`` for the low-rank source ``G = U_G S_G V_Gᴴ``."""
    return G.U @ (G.S @ (be.H(G.V) @ W))


def _source_left(be: Any, G: Any, Z: Any) -> Any:
    """``Gᴴ Z`` for the low-rank source ``G = U_G S_G V_Gᴴ``."""
    return G.V @ (be.H(G.S) @ (be.H(G.U) @ Z))


def _as_scalar(c: Any) -> complex | float | int:
    """A number (Python, numpy or a 0-d tensor) as a Python ``int``/``float``, or ``complex`` when
    its imaginary part is nonzero."""
    if isinstance(c, (int, float)) and not isinstance(c, bool):
        return c
    value = complex(c)
    return value if value.imag != 0 else value.real


def _conj(c: Any) -> Any:
    return c.conjugate() if isinstance(c, complex) else c


def _norm2(be: Any, x: Any) -> float:
    """Spectral-norm bound of a small matrix (Frobenius); 1 for the identity (None)."""
    return 1.0 if x is None else be.norm(x)
