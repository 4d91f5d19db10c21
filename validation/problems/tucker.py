"""T6: Tucker-tensor problems (integrators.md §5 T6), order 3.

* :class:`TuckerRotating` — ``A(t) = eᵗ C₀ ×₁ e^{tW₁} ×₂ e^{tW₂} ×₃ e^{tW₃}`` with skew ``Wᵢ``
  (‖Wᵢ‖₂ = 1) and a core ``C₀`` of multilinear rank ``(r, r, r)``: explicit data
  (``form="explicit"``, a ``dlra.DataField`` of dense tensors) on which the Tucker projector
  splitting, BUG and rank-adaptive BUG are exact; or the tangent linear ODE
  ``F(Y) = Y ×₁ (W₁ + I) + Y ×₂ W₂ + Y ×₃ W₃`` (``form="ode"``, a ``dlra.LinearField`` of
  per-mode operators, exact substeps) with the same solution — ε = 0, the Tucker order test.
* :class:`TuckerSchrodinger` — a 3-D discrete Schrödinger equation with a non-separable cosine
  potential, the Tucker analogue of T4::

      i Ȧ = H[A] = ½ Σᵢ A ×ᵢ D + A ×₁ V ×₂ V ×₃ V,   D = tridiag(−1, 2, −1),  V = diag(1 − cos(2πj/n))

  Linear with constant coefficients (exact substeps), Hermitian ``H`` (norm and energy conserved),
  reference by ``expm_multiply`` of the sparse n³ × n³ operator.  Initial data
  ``C₀ ×ᵢ Uᵢ`` with random orthonormal ``Uᵢ`` and a superdiagonal core ``10⁻ˡ``, normalised.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.linalg import expm
from scipy.sparse.linalg import expm_multiply

from ._base import MatrixProblem, _dense_numpy, as_backend, random_orthonormal, skew


def as_tucker_field(field: Any) -> Any:
    """Wrap a ``DataField``/``LinearField`` for Tucker states (``dlra.solve`` validates matrix
    fields against the state's factors, so Tucker runs pass the Tucker adapter explicitly)."""
    from dlra.tucker import as_tucker_field as wrap

    return wrap(field)


__all__ = ["TuckerRotating", "TuckerSchrodinger", "mode_product"]


def mode_product(X: np.ndarray, M: np.ndarray, i: int) -> np.ndarray:
    """``X ×ᵢ M``: multiply every mode-``i`` fibre of ``X`` by ``M``."""
    return np.moveaxis(np.tensordot(M, X, axes=(1, i)), 0, i)


class _TuckerProblem(MatrixProblem):
    """Base for order-d problems: ``y0`` is a ``dlra.TuckerTensor``; shapes are tuples."""

    d: int = 3
    shape: tuple[int, ...]

    def y0(
        self, rank: Any, backend: str = "numpy", device: str | None = None, dtype: Any = None
    ) -> Any:
        """Truncated HOSVD start of multilinear rank ``rank`` (an int or one per mode)."""
        from dlra import TuckerTensor

        ranks = [int(rank)] * self.d if np.isscalar(rank) else [int(r) for r in rank]
        core, factors = self._initial_factors(ranks)
        return TuckerTensor(
            as_backend(core, backend, device, dtype),
            [as_backend(U, backend, device, dtype) for U in factors],
        )

    def _initial_factors(self, ranks: list[int]) -> tuple[np.ndarray, list[np.ndarray]]:
        a0 = self.initial()
        factors = []
        for i, r in enumerate(ranks):
            u, _, _ = np.linalg.svd(
                np.moveaxis(a0, i, 0).reshape(a0.shape[i], -1), full_matrices=False
            )
            factors.append(u[:, :r])
        core = a0
        for i, U in enumerate(factors):
            core = mode_product(core, U.conj().T, i)
        return core, factors

    def best_error(self, rank: int, t: float | None = None) -> float:
        """HOSVD truncation error (quasi-optimal within √d of the best) of ``A(t)``."""
        from dlra import TuckerTensor

        a = self.solution(self.T if t is None else t)
        return TuckerTensor.from_dense(a, ranks=rank).distance(a)

    def describe(self) -> str:
        return f"{self.label} {self.name} ({'×'.join(map(str, self.shape))})"


class TuckerRotating(_TuckerProblem):
    """T6 explicit / ODE (see the module docstring).  ``core_rank``: multilinear rank of ``C₀``."""

    label = "T6"
    has_exact = True
    exact_substeps = True

    def __init__(
        self,
        n: int = 20,
        *,
        core_rank: int = 4,
        form: str = "explicit",
        T: float = 1.0,
        seed: int = 0,
        full: bool = False,
    ) -> None:
        super().__init__()
        if form not in ("explicit", "ode"):
            raise ValueError(f"form must be 'explicit' or 'ode', got {form!r}")
        n = 30 if full and n == 20 else int(n)
        rng = np.random.default_rng(seed)
        self.n = self.m = n
        self.shape = (n, n, n)
        self.T = float(T)
        self.form = form
        self.core_rank = int(core_rank)
        self.known_rank = self.core_rank
        self.W = [skew(n, rng, scale=1.0) for _ in range(3)]
        r = self.core_rank
        c = rng.standard_normal((r, r, r))
        self.C0 = np.zeros(self.shape)
        self.C0[:r, :r, :r] = c / np.linalg.norm(c)
        self.name = f"tucker-rotating({form}, rank {r})"
        self._q = lru_cache(maxsize=256)(lambda t: [expm(t * w) for w in self.W])

    def initial(self) -> np.ndarray:
        return self.C0.copy()

    def exact(self, t: float) -> np.ndarray:
        a = math.exp(t) * self.C0
        for i, q in enumerate(self._q(float(t))):
            a = mode_product(a, q, i)
        return a

    def derivative(self, t: float) -> np.ndarray:
        a = self.exact(t)
        return a + sum(mode_product(a, w, i) for i, w in enumerate(self.W))

    def rhs(self, t: float, A: np.ndarray) -> np.ndarray:
        return A + sum(mode_product(A, w, i) for i, w in enumerate(self.W))

    def field(self, backend: str = "numpy", device: str | None = None) -> Any:
        import dlra

        if self.form == "explicit":
            return as_tucker_field(
                dlra.DataField(
                    lambda t: as_backend(self._memo("A", t, self.exact), backend, device),
                    dA=lambda t: as_backend(self._memo("dA", t, self.derivative), backend, device),
                )
            )
        W = [as_backend(w, backend, device) for w in self.W]
        W0 = as_backend(self.W[0] + np.eye(self.n), backend, device)
        return as_tucker_field(
            dlra.LinearField([(W0, None, None), (None, W[1], None), (None, None, W[2])])
        )


class TuckerSchrodinger(_TuckerProblem):
    """T6 Schrödinger (see the module docstring).  ``n`` per mode (default 16, full 30)."""

    label = "T6"
    complex = True
    exact_substeps = True
    reference_rtol = 1e-13

    def __init__(self, n: int = 16, *, T: float = 1.0, seed: int = 0, full: bool = False) -> None:
        super().__init__()
        n = 30 if full and n == 16 else int(n)
        self.n = self.m = n
        self.shape = (n, n, n)
        self.T = float(T)
        self.name = "tucker-schrodinger"
        ones = np.ones(n - 1)
        self.D = sp.diags([-ones, 2 * np.ones(n), -ones], [-1, 0, 1], format="csr")
        j = np.arange(-(n // 2), n - n // 2)  # n grid points, also for odd n
        self.v = 1.0 - np.cos(2 * np.pi * j / n)
        self.Vc = sp.diags(self.v, format="csr")
        rng = np.random.default_rng(seed)
        self.U0 = [random_orthonormal(n, n, rng) for _ in range(3)]
        s = 10.0 ** -np.arange(1, n + 1)
        self.s0 = s / np.linalg.norm(s)
        I = sp.identity(n, format="csr")
        self._H = (
            0.5
            * (
                sp.kron(sp.kron(self.D, I), I)
                + sp.kron(sp.kron(I, self.D), I)
                + sp.kron(sp.kron(I, I), self.D)
            )
            + sp.kron(sp.kron(self.Vc, self.Vc), self.Vc)
        ).tocsr()

    def _core(self, r: int) -> np.ndarray:
        c = np.zeros((r, r, r), dtype=np.complex128)
        for l in range(r):
            c[l, l, l] = self.s0[l]
        return c

    def initial(self) -> np.ndarray:
        a = self._core(self.n)
        for i, U in enumerate(self.U0):
            a = mode_product(a, U, i)
        return a

    def _initial_factors(self, ranks: list[int]) -> tuple[np.ndarray, list[np.ndarray]]:
        if len(set(ranks)) != 1:
            return super()._initial_factors(ranks)
        r = ranks[0]
        return self._core(r), [U[:, :r].astype(np.complex128) for U in self.U0]

    def hamiltonian(self, A: np.ndarray) -> np.ndarray:
        out = 0.5 * sum(mode_product(A, self.D.toarray(), i) for i in range(3))
        b = A
        for i in range(3):
            b = mode_product(b, self.Vc.toarray(), i)
        return out + b

    def rhs(self, t: float, A: np.ndarray) -> np.ndarray:
        return -1j * self.hamiltonian(A)

    def energy(self, Y: Any) -> float:
        """``E(Y) = Re⟨Y, H[Y]⟩`` (forms the dense tensor: n³ entries)."""
        A = _dense_numpy(Y)
        return float(np.real(np.vdot(A, self.hamiltonian(A))))

    def operator_norm(self) -> float:
        return 0.5 * 3 * 4.0 + float(np.max(np.abs(self.v))) ** 3

    def field(self, backend: str = "numpy", device: str | None = None) -> Any:
        import dlra

        if backend == "numpy":
            D, Vc = self.D, self.Vc
        else:
            D, Vc = (as_backend(x.toarray(), backend, device) for x in (self.D, self.Vc))
        return as_tucker_field(
            dlra.LinearField(
                [(D, None, None), (None, D, None), (None, None, D), (Vc, Vc, Vc)],
                coeffs=[-0.5j, -0.5j, -0.5j, -1j],
            )
        )

    def _reference(self, t: float) -> np.ndarray:
        a0 = self.initial()
        if t == self.t0:
            return a0
        y = expm_multiply(-1j * (t - self.t0) * self._H, a0.ravel())
        return np.asarray(y).reshape(a0.shape)
