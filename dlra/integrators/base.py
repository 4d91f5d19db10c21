"""The integrator base class, the per-step work context and the registry of methods."""

from __future__ import annotations

import math
import numbers
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from .._backend import backend_of
from .._checks import is_integer, require_bool, require_positive_number, unknown_name_error
from .._workspace import WorkspaceOwner, empty_scratch
from ..fields import projections
from ..fields.base import Field, as_field
from ..linalg import RankControl, _augment_basis, _orthonormalize, _truncate
from ..lowrank import LowRankMatrix
from ..substeps import SubstepSolver, as_substep

__all__ = ["Counters", "Integrator", "StepContext", "get_integrator", "register", "registry"]


@dataclass
class Counters:
    """Work done so far: field evaluations (projected products), QR factorizations (including
    augmentations), SVDs (truncations) and rejected steps."""

    nfev: int = 0
    n_qr: int = 0
    n_svd: int = 0
    n_rejected: int = 0


class StepContext:
    """What one step works with: the field, the substep solver and the counters.

    Integrators call the field and the linear algebra only through this object, so every
    evaluation and factorization is counted in one place.  ``projections`` is a per-step cache of
    projected operators (``Uᴴ A U``) that fields supporting it (:class:`~dlra.LinearField`) share
    between the K-, L- and S-steps of the step; it lives as long as the context, one step.
    """

    def __init__(self, field: Field, substep: SubstepSolver, counters: Counters) -> None:
        self.field = field
        self.substep = substep
        self.counters = counters
        self.projections: dict | None = {} if getattr(field, "shares_projections", False) else None

    def _flow(self, name: str, *bases: Any) -> Any:
        method = getattr(self.field, name)
        if self.projections is None:
            return method(*bases)
        return method(*bases, cache=self.projections)

    def release(self, X: Any) -> None:
        """Forget the projected operators of basis ``X`` (the caller no longer uses it in this
        step): the cache then no longer keeps ``X`` alive (augmented bases that lead with ``X``
        keep copies of its small projected operators)."""
        projections.release(self.projections, X)

    # field products
    def right_left(self, t: float, A: Any, B: Any, W: Any, Z: Any) -> tuple[Any, Any]:
        self.counters.nfev += 1
        return self.field.right_left(t, A, B, W, Z)

    def right_left_at(self, t: float, U: Any, S: Any, V: Any) -> tuple[Any, Any]:
        """``(F V, Fᴴ U)`` with ``F = F(t, U S Vᴴ)`` for orthonormal bases ``U``, ``V``: one
        evaluation, which fields sharing projections take from this step's projected operators."""
        self.counters.nfev += 1
        if self.projections is None:
            return self.field.right_left_at(t, U, S, V)
        return self.field.right_left_at(t, U, S, V, cache=self.projections)

    def right(self, t: float, A: Any, B: Any, W: Any) -> Any:
        self.counters.nfev += 1
        return self.field.right(t, A, B, W)

    def galerkin(self, t: float, A: Any, B: Any, Z: Any, W: Any) -> Any:
        self.counters.nfev += 1
        return self.field.galerkin(t, A, B, Z, W)

    # substeps
    def _solve(
        self, flow: Any, x0: Any, t0: float, t1: float, sign: float, consume: bool = False
    ) -> Any:
        counters = self.counters
        rhs = flow.rhs

        def counted(t: float, x: Any) -> Any:
            counters.nfev += 1
            return rhs(t, x)

        exact = flow.exact
        if exact is not None:

            def counted_exact(x: Any, a: float, b: float, s: float) -> Any:
                counters.nfev += 1
                return exact(x, a, b, s)
        else:
            counted_exact = None
        into = flow.rhs_into
        if into is not None:

            def counted_into(t: float, x: Any, out: Any, alpha: Any) -> None:
                counters.nfev += 1
                into(t, x, out, alpha)
        else:
            counted_into = None
        counted_flow = type(flow)(
            counted, counted_exact, flow.why_not_exact, counted_into, linear=flow.linear
        )
        if consume and self.substep.can_overwrite_x0:
            out = self.substep.solve(counted_flow, x0, t0, t1, sign, overwrite_x0=True)
        else:
            out = self.substep.solve(counted_flow, x0, t0, t1, sign)
        be = backend_of(x0)
        return be.astype(out, x0.dtype)

    def k_step(self, V: Any, K0: Any, t0: float, t1: float, *, consume: bool = False) -> Any:
        """``K̇ = F(t, K Vᴴ) V`` from ``K0`` on ``[t0, t1]``; ``consume=True``: the caller made
        ``K0`` for this call and does not use it again, so the substep solver may work in it."""
        return self._solve(self._flow("k_flow", V), K0, t0, t1, 1.0, consume)

    def l_step(self, U: Any, L0: Any, t0: float, t1: float, *, consume: bool = False) -> Any:
        """``L̇ = F(t, U Lᴴ)ᴴ U`` from ``L0`` on ``[t0, t1]`` (``consume`` as in :meth:`k_step`)."""
        return self._solve(self._flow("l_flow", U), L0, t0, t1, 1.0, consume)

    def s_step(self, U: Any, V: Any, S0: Any, t0: float, t1: float, sign: float = 1.0) -> Any:
        """``Ṡ = sign · Uᴴ F(t, U S Vᴴ) V`` from ``S0`` on ``[t0, t1]``."""
        return self._solve(self._flow("s_flow", U, V), S0, t0, t1, sign)

    # linear algebra
    def orth(self, X: Any) -> tuple[Any, Any]:
        self.counters.n_qr += 1
        return _orthonormalize(X)

    def augment(
        self,
        U0: Any,
        K: Any,
        drop_below: float | None = None,
        *,
        consume: bool = False,
        coefficients: bool = False,
    ) -> tuple[Any, ...]:
        """:func:`~dlra.augment_basis`: ``(Ũ, Û)``, or ``(Ũ, Û, ŨᴴK)`` with ``coefficients``
        (from the small factors, no product over the rows of ``K``).  ``consume=True`` for a
        ``K`` that the substep solver returned and the caller does not use again: the
        Gram–Schmidt passes then work in it when the solver owns its results
        (``SubstepSolver.owns_result``)."""
        self.counters.n_qr += 1
        overwrite = consume and self.substep.owns_result
        found = _augment_basis(
            U0, K, drop_below=drop_below, overwrite_k=overwrite, return_coefficients=coefficients
        )
        # Û = [U₀, Ũ]: its projected operators lead with U₀'s (see dlra.fields.projections)
        projections.note_augmented(self.projections, U0, found[1], backend_of(U0).shape(U0)[1])
        return found

    def truncate(self, U: Any, S: Any, V: Any, control: RankControl) -> LowRankMatrix:
        self.counters.n_svd += 1
        u, s, v, _ = _truncate(U, S, V, control)
        return LowRankMatrix(u, s, v, check=False)


def check_step_time(t: Any, h: Any) -> tuple[float, float]:
    """``(t, h)`` as floats: ``t`` finite, ``h`` finite and positive (steps go forward)."""
    h = require_positive_number(h, "h")
    try:
        t = float(t)
    except (TypeError, ValueError):
        raise TypeError(f"t must be a real number, got {t!r}") from None
    if not math.isfinite(t):
        raise ValueError(f"t must be finite, got {t!r}")
    return t, h


def _check_option(key: str, value: Any, default: Any) -> None:
    """A method option of the kind its default is: a flag (bool), a count (integer ≥ 0) or a
    factor (finite number > 0); options with choices are checked against those."""
    if isinstance(default, bool):
        require_bool(value, key)
    elif isinstance(default, int):
        if not is_integer(value):
            raise TypeError(f"{key} must be an integer, got {value!r}")
        if value < 0:
            raise ValueError(f"{key} must be ≥ 0, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{key} must be a real number, got {value!r}")
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{key} must be a finite number > 0, got {value!r}")


def check_counters(counters: Any) -> Counters:
    """``counters`` (None: a fresh :class:`Counters`), checked."""
    if counters is None:
        return Counters()
    if not isinstance(counters, Counters):
        raise TypeError(f"counters must be a dlra Counters or None, got {type(counters).__name__}")
    return counters


def _state_kind(Y: Any) -> tuple:
    """What a field's validation depends on besides the field: the state's shape, dtype,
    library and device."""
    return (tuple(Y.shape), Y.dtype, Y.backend.name, Y.device)  # (str(dtype) costs 3 µs)


def _reference(obj: Any) -> Callable[[], Any]:
    """A weak reference to ``obj`` where it allows one (a cached check must neither keep a
    field alive nor match a new object that reuses a freed one's id), else a strong one."""
    try:
        return weakref.ref(obj)
    except TypeError:
        return lambda: obj


def validate_for_state(integrator: Any, field: Any, Y: Any, t: float, *, given: Any) -> None:
    """``field.validate(t, Y)`` (shapes, library, dtype of operators, coefficients and data
    against the state: errors that name the argument) when the field the caller ``given`` (before
    wrapping) or the kind of state differs from the last step's — once for a run of steps, not
    every step.  Plain functions are not validated here: each of their evaluations checks what
    it returns, and validating would cost one evaluation more.  :func:`dlra.solve` validates
    before its first step and records it (:func:`note_validated`)."""
    if getattr(field, "validates_by_evaluating", False):
        return
    kind = _state_kind(Y)
    last = getattr(integrator, "_validated_for", None)
    if last is not None and last[0]() is given and last[1] == kind:
        return
    validate = getattr(field, "validate", None)
    if validate is not None:
        validate(t, Y)
    note_validated(integrator, given, Y)


def note_validated(integrator: Any, given: Any, Y: Any) -> None:
    """Record that the field ``given`` was validated against states like ``Y``."""
    integrator._validated_for = (_reference(given), _state_kind(Y))


def check_tolerance_needs(integrator: Any, tolerance: bool) -> None:
    """Refuse a method that needs a tolerance (``requires_tolerance``), or one of its options
    that acts only with one (``tolerance_options``), when none was given."""
    if tolerance:
        return
    if integrator.rank_adaptive and integrator.requires_tolerance:
        raise ValueError(f"{integrator.name!r} needs tol or rtol (the truncation tolerance ϑ)")
    for key in integrator.tolerance_options:
        if integrator.config[key]:
            raise ValueError(
                f"{integrator.name!r}: {key}=True needs tol or rtol (it acts on the truncation "
                "tolerance ϑ; at a fixed rank there is nothing to reject)"
            )


def pad_core(S0: Any, rows: int, cols: int) -> Any:
    """``S0`` in the top-left corner of a zero ``rows × cols`` matrix (old state in augmented bases)."""
    be = backend_of(S0)
    out = empty_scratch((rows, cols), like=S0)  # tall starting blocks come from the workspace
    r, c = be.shape(S0)
    out[:r, :c] = S0
    out[:r, c:] = 0
    out[r:] = 0
    return out


def block_core(top_left: Any, top_right: Any, bottom_left: Any) -> Any:
    """``[[A, B], [C, 0]]`` — the augmented core of the parallel integrators."""
    be = backend_of(top_left)
    a, b = be.shape(top_left)[0], be.shape(top_right)[1]
    c = be.shape(bottom_left)[0]
    out = be.zeros((a + c, be.shape(top_left)[1] + b), like=top_left)
    out[:a, : be.shape(top_left)[1]] = top_left
    out[:a, be.shape(top_left)[1] :] = top_right
    out[a:, : be.shape(top_left)[1]] = bottom_left
    return out


class Integrator(WorkspaceOwner):
    """Base class: configuration (and the per-thread scratch workspace of its steps, see
    :class:`dlra._workspace.WorkspaceOwner`); :meth:`step` advances a factored state by one step.

    Class attributes read by tests, docs and :func:`dlra.solve`:
    ``name``, ``order`` (proven or established order), ``rank_adaptive`` (may change the rank),
    ``exact_for_rank_r_data`` (reproduces explicit data of exact rank r).
    """

    name: ClassVar[str] = ""
    order: ClassVar[int] = 1
    rank_adaptive: ClassVar[bool] = False
    exact_for_rank_r_data: ClassVar[bool] = False
    #: method-specific keyword options and their defaults
    options: ClassVar[dict[str, Any]] = {}
    #: admissible values of options that take one of a few choices (checked at construction)
    choices: ClassVar[dict[str, tuple[Any, ...]]] = {}
    #: True for methods that truncate (accept tol/rtol/rank/min_rank/max_rank)
    truncates: ClassVar[bool] = False
    #: True for rank-adaptive methods that cannot run without a tolerance
    requires_tolerance: ClassVar[bool] = False
    #: flag options that act only with a tolerance (set without one they raise)
    tolerance_options: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        substep: Any = "rk4",
        rank: int | None = None,
        tol: float | None = None,
        rtol: float | None = None,
        min_rank: int = 1,
        max_rank: int | None = None,
        **options: Any,
    ) -> None:
        self.substep = as_substep(substep)
        self._set_options(options)
        # validates every argument (also `rank` when a tolerance makes it the initial rank only)
        RankControl(rank=rank, tol=tol, rtol=rtol, min_rank=min_rank, max_rank=max_rank)
        tolerance = tol is not None or rtol is not None
        if not self.truncates and (tolerance or max_rank is not None or min_rank != 1):
            raise ValueError(
                f"{self.name!r} keeps the rank fixed: tol, rtol, min_rank and max_rank do not "
                "apply; use 'adaptive_bug' or 'parallel_bug' for rank adaptivity"
            )
        check_tolerance_needs(self, tolerance)
        #: the rank given at construction: what :func:`dlra.solve` brings ``Y0`` to, and the rank
        #: a truncating method keeps when no tolerance was given
        self.initial_rank = rank
        # with a tolerance the rank after each step is chosen by it (within [min_rank, max_rank])
        self.control = RankControl(
            rank=None if tolerance else rank,
            tol=tol,
            rtol=rtol,
            min_rank=min_rank,
            max_rank=max_rank,
        )

    def _set_options(self, options: dict[str, Any]) -> None:
        """Method options over their defaults; unknown names and inadmissible choices raise.
        ``workspace`` (every method): keep large scratch blocks from one step for the next
        (:mod:`dlra._workspace`; default True)."""
        workspace = options.pop("workspace", True)
        require_bool(workspace, "workspace")
        self.keep_workspace = workspace
        for key in options:
            if key not in self.options:
                raise unknown_name_error("option", key, self.known_options())
        self.config = {**self.options, **options}
        for key, allowed in self.choices.items():
            if self.config[key] not in allowed:
                raise ValueError(
                    f"{key} must be one of {', '.join(map(repr, allowed))}, got {self.config[key]!r}"
                )
        for key, value in options.items():
            _check_option(key, value, self.options[key])

    @classmethod
    def known_options(cls) -> list[str]:
        return ["substep", "rank", "tol", "rtol", "min_rank", "max_rank", "workspace", *cls.options]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(substep={self.substep!r}, control={self.control!r})"

    def rank_control(self, current_rank: int) -> RankControl:
        """The truncation rule for a state of rank ``current_rank``: tolerance-based when a
        tolerance was given, else fixed at ``rank`` (default: the current rank); either way
        clamped to ``[min_rank, max_rank]``."""
        c = self.control
        if c.adaptive:
            return c
        return RankControl(rank=c.rank or current_rank, min_rank=c.min_rank, max_rank=c.max_rank)

    def step(
        self, field: Any, Y: LowRankMatrix, t: float, h: float, *, counters: Counters | None = None
    ) -> LowRankMatrix:
        """One step of size ``h > 0`` from ``(t, Y)``; returns the new state.  Work is added to
        ``counters`` when given."""
        if not isinstance(Y, LowRankMatrix):
            raise TypeError(
                f"Y must be a LowRankMatrix, got {type(Y).__name__}; make one with "
                "dlra.LowRankMatrix.from_dense (a TuckerTensor needs kind='tucker' integrators)"
            )
        t, h = check_step_time(t, h)
        wrapped = as_field(field)
        validate_for_state(self, wrapped, Y, t, given=field)
        ctx = StepContext(wrapped, self.substep, check_counters(counters))
        return self._run_in_workspace(self._step, ctx, Y, t, h)

    def _step(self, ctx: StepContext, Y: LowRankMatrix, t: float, h: float) -> LowRankMatrix:
        raise NotImplementedError


_REGISTRY: dict[str, dict[str, type]] = {"matrix": {}, "tucker": {}}


def register(cls: type, kind: str = "matrix") -> type:
    """Add an integrator class to the registry of ``kind`` (``"matrix"`` or ``"tucker"``)."""
    table = _REGISTRY.setdefault(kind, {})
    if cls.name in table:
        raise ValueError(f"an integrator named {cls.name!r} is already registered for {kind}")
    table[cls.name] = cls
    return cls


def registry(kind: str = "matrix") -> dict[str, type]:
    return dict(_REGISTRY.get(kind, {}))


def get_integrator(name: str, kind: str = "matrix", **options: Any) -> Integrator:
    """An integrator instance by method name (``"bug"``, ``"adaptive_bug"``, ...)."""
    if kind not in _REGISTRY:
        raise unknown_name_error("kind", kind, _REGISTRY)
    table = _REGISTRY[kind]
    if not isinstance(name, str):
        raise TypeError(f"method must be a string, got {name!r}")
    cls = table.get(name)
    if cls is None:
        raise unknown_name_error("method", name, table)
    return cls(**options)
