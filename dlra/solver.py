"""``dlra.solve``: integrate a DLRA problem over an interval with a fixed step size."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ._backend import backend_of
from ._checks import is_integer, require_bool, require_positive_number, unknown_name_error
from .fields.base import as_field
from .integrators.base import Counters, Integrator, get_integrator, note_validated, registry
from .lowrank import LowRankMatrix

__all__ = ["IntegrationError", "Solution", "solve"]

_SOLVE_OPTIONS = ("save_at", "progress", "check_finite")


@dataclass
class Solution:
    """Result of :func:`solve`.

    ``t`` and ``y``: save times and factored states there; ``ranks``: rank of each saved state
    (tuples for Tucker tensors).  ``step_times``/``step_ranks``: time and rank after every step
    (including ``t0``).  ``status``: 0 success, 1 stopped early by a non-finite field value (the
    states up to the last good step are kept), 2 interrupted by the user.  Work counters: ``nfev``
    (projected field evaluations, one per substep-solver stage), ``n_qr``, ``n_svd``,
    ``n_rejected`` (rejected steps), ``n_steps``.
    """

    t: list[float] = field(default_factory=list)
    y: list[Any] = field(default_factory=list)
    ranks: list[Any] = field(default_factory=list)
    step_times: list[float] = field(default_factory=list)
    step_ranks: list[Any] = field(default_factory=list)
    status: int = 0
    message: str = "The solver successfully reached the end of the interval."
    method: str = ""
    nfev: int = 0
    n_qr: int = 0
    n_svd: int = 0
    n_rejected: int = 0
    n_steps: int = 0

    @property
    def success(self) -> bool:
        return self.status == 0

    @property
    def y_final(self) -> Any:
        """The last state reached (the last saved state)."""
        return self.y[-1]

    def __repr__(self) -> str:
        return (
            f"Solution(method={self.method!r}, status={self.status}, message={self.message!r}, "
            f"t=[{self.t[0] if self.t else ''} … {self.t[-1] if self.t else ''}] ({len(self.t)} "
            f"saved), final rank={self.ranks[-1] if self.ranks else None}, steps={self.n_steps}, "
            f"nfev={self.nfev}, n_qr={self.n_qr}, n_svd={self.n_svd}, n_rejected={self.n_rejected})"
        )


class IntegrationError(RuntimeError):
    """Raised when the field raises during a run; ``.solution`` holds the states computed so far."""

    def __init__(self, message: str, solution: Solution) -> None:
        super().__init__(message)
        self.solution = solution


def _state_kind(Y0: Any) -> str:
    if isinstance(Y0, LowRankMatrix):
        return "matrix"
    if type(Y0).__name__ == "TuckerTensor" and hasattr(Y0, "core"):
        return "tucker"
    raise TypeError(
        f"Y0 must be a dlra.LowRankMatrix or dlra.TuckerTensor, got {type(Y0).__name__}; "
        "build one with LowRankMatrix.from_dense(A, rank=r)"
    )


def _state_rank(Y: Any) -> Any:
    return Y.rank if isinstance(Y, LowRankMatrix) else tuple(Y.ranks)


def _state_arrays(Y: Any) -> list[Any]:
    if isinstance(Y, LowRankMatrix):
        return [Y.U, Y.S, Y.V]
    return [Y.core, *Y.factors]


def _state_finite(Y: Any) -> bool:
    be = backend_of(*_state_arrays(Y))
    return all(be.all_finite(x) for x in _state_arrays(Y))


#: the most steps one :func:`solve` call takes (its time grid and per-step records are lists)
MAX_STEPS = 10_000_000


def _time_grid(t0: float, t1: float, h: float, save_at: Any) -> tuple[list[float], set[int]]:
    """Step times from ``t0`` to ``t1`` with step ``h`` (last step shortened to land on ``t1``),
    with save times inserted; returns the grid and the indices to save."""
    steps = (t1 - t0) / h  # may overflow to inf for a tiny h: then more than MAX_STEPS too
    if not (math.isfinite(steps) and math.ceil(steps - 1e-9) <= MAX_STEPS):
        raise ValueError(
            f"h = {h!r} gives {steps:.3g} steps over t_span, more than {MAX_STEPS:,} (the grid and "
            "the per-step records are kept in memory); choose a larger h or split t_span"
        )
    n = max(1, math.ceil(steps - 1e-9))
    grid = [t0 + k * h for k in range(n)] + [t1]
    if any(b <= a for a, b in itertools.pairwise(grid)):  # t0 + k·h rounds onto its neighbour
        raise ValueError(f"h = {h!r} is below the resolution of the times in t_span ({t0}, {t1})")
    if save_at is None:
        return grid, {0, len(grid) - 1}
    if isinstance(save_at, str):
        if save_at != "steps":
            raise ValueError(
                f"save_at must be None, 'steps' or a sequence of times, got {save_at!r}"
            )
        return grid, set(range(len(grid)))
    try:
        times = sorted(float(s) for s in save_at)
    except (TypeError, ValueError):
        raise TypeError("save_at must be None, 'steps' or a sequence of times") from None
    if not times:
        raise ValueError("save_at is empty: give at least one time (None saves t0 and t1)")
    tol = 1e-9 * max(abs(t1 - t0), 1e-300)
    for s in times:
        if not (t0 - tol <= s <= t1 + tol):
            raise ValueError(f"save_at contains {s!r} outside the time span [{t0}, {t1}]")
    merged = sorted(set(grid) | {min(max(s, t0), t1) for s in times})
    cleaned: list[float] = []
    for s in merged:
        if cleaned and s - cleaned[-1] <= tol:
            continue
        cleaned.append(s)
    cleaned[-1] = t1
    save = {i for i, s in enumerate(cleaned) if any(abs(s - x) <= tol for x in times)}
    return cleaned, save


def _check_span(t_span: Any) -> tuple[float, float]:
    # a sequence or a 1-D array (numpy or torch) of two entries
    pair = isinstance(t_span, Sequence) or getattr(t_span, "ndim", None) == 1
    if isinstance(t_span, (str, bytes)) or not pair or len(t_span) != 2:
        raise ValueError(f"t_span must be a pair (t0, t1), got {t_span!r}")
    try:
        t0, t1 = float(t_span[0]), float(t_span[1])
    except (TypeError, ValueError):
        raise TypeError(f"t_span must contain two real numbers, got {t_span!r}") from None
    if not (math.isfinite(t0) and math.isfinite(t1)):
        raise ValueError(f"t_span must be finite, got {t_span!r}")
    if t1 < t0:
        raise ValueError(f"t_span is reversed ({t0} > {t1}); backward integration is not supported")
    if t1 == t0:
        raise ValueError(f"t_span is empty (t0 = t1 = {t0})")
    return t0, t1


def _pad_rank(Y: LowRankMatrix, rank: int) -> LowRankMatrix:
    """``Y`` with rank raised to ``rank``: extra orthonormal directions with zero weight."""
    import numpy as np

    from .linalg import pad_basis

    be = Y.backend
    rng = np.random.default_rng(0)
    U = pad_basis(Y.U, rank, rng)
    V = pad_basis(Y.V, rank, rng)
    S = be.zeros((rank, rank), like=Y.S)
    S[: Y.rank, : Y.rank] = Y.S
    return LowRankMatrix(U, S, V, check=False)


def _prepare_matrix_state(
    Y0: LowRankMatrix, rank: int | None, complex_field: bool
) -> LowRankMatrix:
    be = Y0.backend
    if complex_field and not be.is_complex(Y0.S):
        dtype = {"float32": "complex64", "float64": "complex128"}
        name = str(Y0.dtype).replace("torch.", "")
        if be.name == "torch":
            import torch

            target = getattr(torch, dtype.get(name, "complex128"))
        else:
            target = dtype.get(name, "complex128")
        Y0 = Y0.astype(target)
    if rank is not None:
        n, m = Y0.shape
        if rank > min(n, m):
            raise ValueError(f"rank {rank} exceeds min(n, m) = {min(n, m)} of Y0 {Y0.shape}")
        if rank > Y0.rank:
            Y0 = _pad_rank(Y0, rank)
        elif rank < Y0.rank:
            from .linalg import RankControl, _truncate

            Y0 = LowRankMatrix(*_truncate(*Y0, RankControl(rank=rank))[:3], check=False)
    return Y0


def solve(
    F: Any,
    Y0: Any,
    t_span: Sequence[float],
    *,
    h: float,
    method: str | Integrator,
    **options: Any,
) -> Solution:
    """Integrate ``Ẏ = P(Y) F(t, Y)`` on the low-rank manifold from ``Y0`` over ``t_span``.

    Parameters
    ----------
    F
        A plain callable ``F(t, Y)`` on dense arrays, a :class:`~dlra.DataField`, a
        :class:`~dlra.LinearField` or any :class:`~dlra.fields.Field`.
    Y0
        Initial state, a :class:`~dlra.LowRankMatrix` (or :class:`~dlra.TuckerTensor`).  Its
        arrays choose the backend (numpy or torch, any device) and the dtype.
    t_span
        ``(t0, t1)`` with ``t0 < t1``.
    h
        Step size, ``0 < h ≤ t1 − t0``; the last step is shortened to land on ``t1``.
    method
        ``"ksl"``, ``"strang"``, ``"bug"``, ``"augmented_bug"``, ``"adaptive_bug"``,
        ``"parallel_bug"``, ``"midpoint_bug"``, ``"parallel_bug2"`` or an integrator instance.
    **options
        ``rank`` (fixed rank; Y0 is padded with zero-weight directions or truncated to it), ``tol``,
        ``rtol``, ``min_rank``, ``max_rank`` (rank control of truncating methods), ``substep``
        (``"rk4"`` (default), ``"euler"``, ``"exact"``, ``dlra.RK4(steps=m)``, ``dlra.Euler(steps=m)``),
        ``save_at`` (None: t0 and t1; ``"steps"``: every step; or a sequence of times),
        ``progress`` (tqdm bar), ``check_finite`` (default True), ``workspace`` (default True:
        keep large scratch blocks from one step for the next — faster at large n, more memory
        held; see docs/choosing.md), and method options (``rejection`` for ``parallel_bug``,
        ``variant`` for the second-order methods).

    Returns
    -------
    Solution
        Saved times and states, ranks, status and work counters.  If ``F`` produces NaN/Inf the run
        stops with ``status=1`` and a message naming the step and time, keeping what was computed.
        Ctrl-C stops it with ``status=2``, keeping the states up to the last completed step.

    Raises
    ------
    ValueError, TypeError
        Bad input, or raised by ``F`` during the run: in the first step unchanged (almost always
        bad input); in a later step with the partial :class:`Solution` (``status=1``) attached
        as its ``.solution`` attribute.
    IntegrationError
        Any other exception of ``F`` during the run, chained; ``.solution`` holds the partial
        solution.
    """
    kind = _state_kind(Y0)
    t0, t1 = _check_span(t_span)
    step = require_positive_number(h, "h")
    if step > (t1 - t0) * (1 + 1e-12):
        raise ValueError(f"h = {h!r} is larger than the time span t1 − t0 = {t1 - t0!r}")
    save_at = options.pop("save_at", None)
    progress = options.pop("progress", False)
    check_finite = options.pop("check_finite", True)
    require_bool(progress, "progress")
    require_bool(check_finite, "check_finite")
    rank = options.get("rank")
    field_ = as_field(F)

    if isinstance(method, Integrator):
        if options:
            raise TypeError(
                f"options {sorted(options)} cannot be combined with an integrator instance; "
                "configure the instance instead"
            )
        from .tucker.base import TuckerIntegrator

        if isinstance(method, TuckerIntegrator) != (kind == "tucker"):
            raise TypeError(
                f"method is a {type(method).__name__}, which does not integrate "
                f"{'LowRankMatrix' if kind == 'matrix' else 'TuckerTensor'} states like Y0; use "
                f"dlra.get_integrator({method.name!r}, kind={kind!r})"
            )
        integrator = method
        rank = integrator.initial_rank  # the rank the instance was made with (None: Y0's)
    else:
        if isinstance(method, str) and method not in registry(kind):
            raise unknown_name_error("method", method, registry(kind))
        cls = registry(kind)[method] if isinstance(method, str) else None
        if cls is not None:
            known = set(cls.known_options()) | set(_SOLVE_OPTIONS)
            for key in options:
                if key not in known:
                    raise unknown_name_error("option", key, known)
        integrator = get_integrator(method, kind=kind, **options)

    if kind == "matrix":
        if rank is not None and (not is_integer(rank) or rank < 1):
            raise ValueError(f"rank must be a positive integer, got {rank!r}")
        Y = _prepare_matrix_state(Y0, rank, bool(getattr(field_, "is_complex", False)))
    else:
        from .tucker import as_tucker_field, prepare_state

        field_ = as_tucker_field(field_)
        Y = prepare_state(Y0, rank, bool(getattr(field_, "is_complex", False)))

    if not _state_finite(Y):
        raise ValueError("Y0 contains NaN or Inf")
    validate = getattr(field_, "validate", None)
    if validate is not None:
        validate(t0, Y)
    note_validated(integrator, F, Y)  # its steps need not validate again

    grid, save = _time_grid(t0, t1, step, save_at)
    sol = Solution(method=integrator.name)
    counters = Counters()

    def record(i: int, state: Any) -> None:
        sol.step_times.append(grid[i])
        sol.step_ranks.append(_state_rank(state))
        if i in save:
            sol.t.append(grid[i])
            sol.y.append(state)
            sol.ranks.append(_state_rank(state))

    def finish() -> Solution:
        sol.nfev, sol.n_qr, sol.n_svd = counters.nfev, counters.n_qr, counters.n_svd
        sol.n_rejected = counters.n_rejected
        return sol

    record(0, Y)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(grid) - 1, desc=integrator.name, unit="step")
    try:
        for i in range(1, len(grid)):
            ta, tb = grid[i - 1], grid[i]
            try:
                Y_new = integrator.step(field_, Y, ta, tb - ta, counters=counters)
            except KeyboardInterrupt:
                sol.status, sol.message = 2, f"interrupted during step {i} at t = {ta:g}"
                _save_last(sol, grid, i - 1, Y)
                break
            except (ValueError, TypeError) as exc:
                if i == 1:
                    raise  # bad input surfaces as such on the first step
                # the exception keeps its type (it may be one the caller handles, e.g. a
                # LinAlgError) and carries what was computed, like an IntegrationError
                _save_last(sol, grid, i - 1, Y)
                sol.status = 1
                sol.message = f"step {i} from t = {ta:g} failed: {exc!r}"
                try:
                    exc.solution = finish()  # type: ignore[attr-defined]
                    if hasattr(exc, "add_note"):  # Python ≥ 3.11
                        exc.add_note(
                            f"dlra.solve: {sol.message}; the states up to t = {ta:g} are in "
                            "the exception's .solution"
                        )
                except AttributeError:  # an exception class that takes no new attributes
                    pass
                raise
            except Exception as exc:
                _save_last(sol, grid, i - 1, Y)
                sol.status = 1
                sol.message = f"step {i} from t = {ta:g} failed: {exc!r}"
                raise IntegrationError(sol.message, finish()) from exc
            sol.n_steps = i
            if check_finite and not _state_finite(Y_new):
                sol.status = 1
                sol.message = (
                    f"the field produced non-finite values (NaN or Inf) in step {i} from "
                    f"t = {ta:g} to t = {tb:g}; the solution is kept up to t = {ta:g}"
                )
                sol.n_steps = i - 1
                _save_last(sol, grid, i - 1, Y)
                break
            Y = Y_new
            record(i, Y)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        integrator.release_workspace()  # the scratch kept between steps is not needed after the run
    return finish()


def _save_last(sol: Solution, grid: list[float], i: int, Y: Any) -> None:
    """Make sure the last good state is among the saved ones."""
    if not sol.t or sol.t[-1] != grid[i]:
        sol.t.append(grid[i])
        sol.y.append(Y)
        sol.ranks.append(_state_rank(Y))
