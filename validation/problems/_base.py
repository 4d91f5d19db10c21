"""Common interface of the validation problems: a matrix ODE with its exact or reference solution.

Every problem is a small object holding its parameters and its (seeded, reproducible) data in numpy.
It answers, for any backend the integrators run on:

* :meth:`MatrixProblem.field` — the right-hand side as a ``dlra`` field (``DataField`` for explicit
  data, ``LinearField`` for operator-structured linear problems, a plain callable otherwise);
* :meth:`MatrixProblem.rhs` — the same ``F(t, A)`` on dense numpy arrays (for reference solves and
  the finite-difference checks of the tests);
* :meth:`MatrixProblem.y0` — the rank-``r`` starting value as a ``dlra.LowRankMatrix``;
* :meth:`MatrixProblem.solution` — the exact solution ``A(t)`` where a closed form exists, else a
  reference from a full solve with a tight tolerance, cached in memory per time;
* :meth:`MatrixProblem.best_error` — the best rank-``r`` approximation error of ``A(t)``, closed
  form where known, else from the SVD of the solution.

Sizes are small by default (``n ≤ 100``); ``full=True`` at construction gives the papers' sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from scipy.integrate import solve_ivp

__all__ = ["MatrixProblem", "as_backend", "random_orthonormal", "skew"]


def skew(n: int, rng: np.random.Generator, *, scale: float | None = None) -> np.ndarray:
    """Random real skew-symmetric ``W = W̃ − W̃ᵀ`` from a standard-normal strict upper triangle.

    ``scale=None`` keeps the raw size (‖W‖₂ ≈ 1.9·√n, the LowRankIntegrators.jl convention);
    otherwise ``W`` is rescaled to spectral norm ``scale``.
    """
    wt = np.triu(rng.standard_normal((n, n)), 1)
    w = wt - wt.T
    if scale is not None:
        w *= scale / np.linalg.norm(w, 2)
    return w


def random_orthonormal(n: int, r: int, rng: np.random.Generator) -> np.ndarray:
    """``n × r`` orthonormal columns: QR of a uniform(0, 1) matrix (CKL22 Schrödinger set-up)."""
    q, _ = np.linalg.qr(rng.uniform(size=(n, r)))
    return q


def as_backend(x: np.ndarray, backend: str, device: str | None = None, dtype: Any = None) -> Any:
    """Convert a numpy array to ``backend`` (``"numpy"`` or ``"torch"``) on ``device``."""
    if backend == "numpy":
        return x if dtype is None else x.astype(dtype, copy=False)
    if backend == "torch":
        import torch

        t = torch.from_numpy(np.array(x, copy=True, order="C"))
        if dtype is not None:
            t = t.to(dtype)
        return t.to(device or "cpu")
    raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")


class MatrixProblem:
    """Base class: a matrix ODE ``Ȧ = F(t, A)``, ``A(t0) = A0`` on ``[t0, T]``.

    Subclasses set :attr:`label`, :attr:`n`, :attr:`m`, :attr:`T`, :attr:`complex`, build their data
    in ``__init__`` and implement :meth:`initial`, :meth:`rhs` and :meth:`field`; they override
    :meth:`exact` when a closed form exists (then :attr:`has_exact` is true) and may override
    :meth:`_reference` with something better than the generic DOP853 solve.
    """

    label: ClassVar[str] = "T?"
    name: str = "problem"
    n: int
    m: int
    t0: float = 0.0
    T: float = 1.0
    complex: bool = False
    #: true when :meth:`exact` is a closed form
    has_exact: bool = False
    #: rank of the exact solution for all t, when it is exactly low-rank (None otherwise)
    known_rank: int | None = None
    #: "exact" when the integrators' exact substeps apply to :meth:`field` (explicit data,
    #: Sylvester-type LinearField without source); else None (use RK4 substeps)
    exact_substeps: bool = False
    #: relative accuracy of :meth:`solution` (closed form: round-off; full solves: their tolerance)
    reference_rtol: float = 1e-14
    #: for the studies' ``error`` metric: "absolute" (CKL22) or "relative" (Kusch24)
    error_kind: str = "absolute"

    def __init__(self) -> None:
        self._cache: dict[float, np.ndarray] = {}
        self._memo_cache: dict[tuple[str, float], np.ndarray] = {}

    def _memo(self, kind: str, t: float, fn: Callable[[float], np.ndarray]) -> np.ndarray:
        """``fn(t)`` memoised per time (read-only result): integrators ask for the data at the
        same step times many times (every substep, every method, every rank)."""
        key = (kind, round(float(t), 15))
        hit = self._memo_cache.get(key)
        if hit is None:
            if len(self._memo_cache) >= 4096:
                self._memo_cache.clear()
            hit = fn(float(t))
            hit.setflags(write=False)
            self._memo_cache[key] = hit
        return hit

    # -- to implement --------------------------------------------------------------------------
    def initial(self) -> np.ndarray:
        """Dense ``A(t0)`` (numpy)."""
        raise NotImplementedError

    def rhs(self, t: float, A: np.ndarray) -> np.ndarray:
        """Dense ``F(t, A)`` (numpy)."""
        raise NotImplementedError

    def field(self, backend: str = "numpy", device: str | None = None) -> Any:
        """The right-hand side as the ``dlra`` integrators take it, on ``backend``/``device``."""
        raise NotImplementedError

    def exact(self, t: float) -> np.ndarray:
        """Closed-form ``A(t)`` (only when :attr:`has_exact`)."""
        raise NotImplementedError(f"{self.name} has no closed-form solution; use solution(t)")

    # -- provided ------------------------------------------------------------------------------
    @property
    def dtype(self) -> Any:
        return np.complex128 if self.complex else np.float64

    def solution(self, t: float) -> np.ndarray:
        """``A(t)``: the closed form when available, else a cached tight-tolerance reference."""
        if self.has_exact:
            return self.exact(t)
        key = round(float(t), 15)
        if key not in self._cache:
            self._cache[key] = self._reference(key)
        return self._cache[key]

    def _reference(self, t: float) -> np.ndarray:
        """Generic reference: DOP853 on the flattened full matrix, rtol 1e-12, atol 1e-14·‖A0‖."""
        a0 = self.initial()
        if t == self.t0:
            return a0
        shape = a0.shape

        def f(s: float, y: np.ndarray) -> np.ndarray:
            return self.rhs(s, y.reshape(shape)).ravel()

        atol = 1e-14 * max(np.linalg.norm(a0), 1e-300)
        sol = solve_ivp(f, (self.t0, t), a0.ravel(), method="DOP853", rtol=1e-12, atol=atol)
        if not sol.success:  # pragma: no cover - reference solves are on well-posed problems
            raise RuntimeError(f"reference solve for {self.name} failed: {sol.message}")
        return sol.y[:, -1].reshape(shape)

    def y0(
        self, rank: int, backend: str = "numpy", device: str | None = None, dtype: Any = None
    ) -> Any:
        """Rank-``rank`` start: the truncated SVD of ``A(t0)`` (extra columns complete the bases
        with zero singular values when ``rank`` exceeds the numerical rank)."""
        from dlra import LowRankMatrix

        a0 = self.initial()
        u, s, vh = np.linalg.svd(a0)
        r = int(rank)
        if not 1 <= r <= min(a0.shape):
            raise ValueError(f"rank must be in [1, {min(a0.shape)}], got {rank!r}")
        U = u[:, :r]
        S = np.diag(s[:r]).astype(a0.dtype)
        V = vh[:r].conj().T
        U, S, V = (as_backend(x, backend, device, dtype) for x in (U, S, V))
        return LowRankMatrix(U, S, V)

    def best_error(self, rank: int, t: float | None = None) -> float:
        """``min_{rank X ≤ r} ‖A(t) − X‖_F`` (default ``t = T``), from the SVD of the solution."""
        t = self.T if t is None else t
        s = np.linalg.svd(self.solution(t), compute_uv=False)
        return float(math.sqrt(float(np.sum(s[rank:] ** 2))))

    def error(self, Y: Any, t: float | None = None) -> float:
        """Error of a ``LowRankMatrix`` (or dense array) against ``A(t)``: absolute or relative
        Frobenius, following :attr:`error_kind`."""
        t = self.T if t is None else t
        a = self.solution(t)
        y = _dense_numpy(Y)
        err = float(np.linalg.norm(y - a))
        if self.error_kind == "relative":
            err /= float(np.linalg.norm(a))
        return err

    def scale(self, t: float | None = None) -> float:
        """``‖A(t)‖_F`` (default ``t = T``): the unit of the exactness thresholds."""
        return float(np.linalg.norm(self.solution(self.T if t is None else t)))

    def describe(self) -> str:
        """One line: label, name and size (for report tables)."""
        return f"{self.label} {self.name} ({self.n}×{self.m})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


def _dense_numpy(Y: Any) -> np.ndarray:
    """Dense numpy copy of a LowRankMatrix / TuckerTensor / array (numpy or torch)."""
    if hasattr(Y, "to_dense"):
        Y = Y.to_dense()
    if hasattr(Y, "detach"):
        Y = Y.detach().cpu().numpy()
    return np.asarray(Y)


def finite_difference_rhs(
    solution: Callable[[float], np.ndarray], t: float, h: float = 1e-4
) -> np.ndarray:
    """Fourth-order central difference of ``solution`` at ``t`` (error ``O(h⁴)``), for tests."""
    a = solution
    return (-a(t + 2 * h) + 8 * a(t + h) - 8 * a(t - h) + a(t - 2 * h)) / (12 * h)
