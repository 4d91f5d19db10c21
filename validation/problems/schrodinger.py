"""T4 / T5: discrete Schrödinger equations with a cosine potential (integrators.md §5 T4, T5).

T4, Dirichlet (Ceruti, Kusch & Lubich 2022, §6.1)::

    i Ȧ = H[A] = ½(DA + AD) + V A V,   D = tridiag(−1, 2, −1),
    V = diag(1 − cos(2πj/N)),  j = −N/2, …, N/2 − 1

with ``A₀ = U₀S₀V₀ᵀ``, ``U₀, V₀`` orthonormalised uniform random ``N × N`` matrices,
``S₀ = diag(10⁻ⁱ)/‖·‖`` (``‖A₀‖ = 1``), ``N = 100``, ``T = 1``; absolute errors.

T5, periodic (Kusch 2024, §6.1)::

    i Ȧ = H[A] = −(DA + AD) + V A V,   D = ½ circ(−1, 2, −1),

initial data as T4 but not normalised, relative errors, ``N = 500`` in the paper (``full=True``),
100 by default.

Both are ``dlra.LinearField`` s with terms ``[(D, None), (None, D), (V, V)]`` and complex
coefficients ``−i·(½, ½, 1)`` (T4) or ``i·(1, 1, −1)`` (T5).  ``H`` is Hermitian, so the exact
flow conserves the norm and the energy ``E(A) = Re⟨A, H[A]⟩``.  The reference solution is
``expm_multiply`` of the sparse ``N² × N²`` operator (a full solve at round-off accuracy), cached
in memory per time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import expm_multiply

from ._base import MatrixProblem, _dense_numpy, as_backend, random_orthonormal

__all__ = ["Schrodinger"]


class Schrodinger(MatrixProblem):
    """T4 (``boundary="dirichlet"``) and T5 (``boundary="periodic"``); see the module docstring."""

    complex = True
    exact_substeps = True
    reference_rtol = 1e-13

    def __init__(
        self,
        n: int | None = None,
        *,
        boundary: str = "dirichlet",
        T: float | None = None,
        seed: int = 0,
        full: bool = False,
    ) -> None:
        super().__init__()
        if boundary not in ("dirichlet", "periodic"):
            raise ValueError(f"boundary must be 'dirichlet' or 'periodic', got {boundary!r}")
        periodic = boundary == "periodic"
        if n is None:
            n = 500 if (full and periodic) else 100
        self.n = self.m = N = int(n)
        self.boundary = boundary
        self.label = "T5" if periodic else "T4"
        self.name = f"schrodinger({boundary})"
        self.T = float(T if T is not None else 1.0)
        self.error_kind = "relative" if periodic else "absolute"
        ones = np.ones(N - 1)
        if periodic:
            D = sp.diags([-0.5 * ones, np.ones(N), -0.5 * ones], [-1, 0, 1], format="lil")
            D[0, N - 1] = D[N - 1, 0] = -0.5
            self.D = D.tocsr()
            self.coeffs = (1j, 1j, -1j)  # Ȧ = i(DA + AD) − i VAV
            self._hc = (-1.0, -1.0, 1.0)  # H[A] = −DA − AD + VAV
        else:
            self.D = sp.diags([-ones, 2 * np.ones(N), -ones], [-1, 0, 1], format="csr")
            self.coeffs = (-0.5j, -0.5j, -1j)  # Ȧ = −i(½DA + ½AD + VAV)
            self._hc = (0.5, 0.5, 1.0)
        j = np.arange(-(N // 2), N - N // 2)  # N grid points, also for odd N
        self.v = 1.0 - np.cos(2 * np.pi * j / N)
        self.Vc = sp.diags(self.v, format="csr")
        rng = np.random.default_rng(seed)
        self.U0 = random_orthonormal(N, N, rng)
        self.V0 = random_orthonormal(N, N, rng)
        s = 10.0 ** -np.arange(1, N + 1)
        self.s0 = s if periodic else s / np.linalg.norm(s)
        I = sp.identity(N, format="csr")
        hc = self._hc
        self._H = (
            hc[0] * sp.kron(self.D, I)
            + hc[1] * sp.kron(I, self.D.T)
            + hc[2] * sp.kron(self.Vc, self.Vc.T)
        ).tocsr()

    # -- data ----------------------------------------------------------------------------------
    def initial(self) -> np.ndarray:
        return ((self.U0 * self.s0) @ self.V0.T).astype(np.complex128)

    def y0(
        self, rank: int, backend: str = "numpy", device: str | None = None, dtype: Any = None
    ) -> Any:
        """The leading ``r × r`` block of the factored initial data (as the reference scripts)."""
        from dlra import LowRankMatrix

        r = int(rank)
        if not 1 <= r <= self.n:
            raise ValueError(f"rank must be in [1, {self.n}], got {rank!r}")
        U = self.U0[:, :r].astype(np.complex128)
        S = np.diag(self.s0[:r]).astype(np.complex128)
        V = self.V0[:, :r].astype(np.complex128)
        return LowRankMatrix(*(as_backend(x, backend, device, dtype) for x in (U, S, V)))

    def hamiltonian(self, A: np.ndarray) -> np.ndarray:
        """``H[A]`` on a dense matrix."""
        hc = self._hc
        return hc[0] * (self.D @ A) + hc[1] * (A @ self.D) + hc[2] * (self.Vc @ (self.Vc @ A.T).T)

    def rhs(self, t: float, A: np.ndarray) -> np.ndarray:
        return -1j * self.hamiltonian(A)

    def operator_norm(self) -> float:
        """Upper bound of ``‖H‖`` as an operator on Frobenius-normed matrices."""
        d = float(abs(sp.linalg.eigsh(self.D, k=1, return_eigenvectors=False)[0]))
        vmax = float(np.max(np.abs(self.v)))
        return abs(self._hc[0]) * d + abs(self._hc[1]) * d + abs(self._hc[2]) * vmax**2

    def energy(self, Y: Any) -> float:
        """``E(Y) = Re⟨Y, H[Y]⟩``, factored (``O(N r²)``) for a ``LowRankMatrix``."""
        if hasattr(Y, "U") and hasattr(Y, "S"):
            U, S, V = (_dense_numpy(x) for x in (Y.U, Y.S, Y.V))
            hc = self._hc
            uDu, vDv = U.conj().T @ (self.D @ U), V.conj().T @ (self.D @ V)
            uVu, vVv = U.conj().T @ (self.Vc @ U), V.conj().T @ (self.Vc @ V)
            Sh = S.conj().T
            e = (
                hc[0] * np.trace(Sh @ uDu @ S)
                + hc[1] * np.trace(Sh @ S @ vDv)
                + hc[2] * np.trace(Sh @ uVu @ S @ vVv)
            )
            return float(np.real(e))
        A = _dense_numpy(Y)
        return float(np.real(np.vdot(A, self.hamiltonian(A))))

    def field(self, backend: str = "numpy", device: str | None = None) -> Any:
        import dlra

        if backend == "numpy":
            D, Vc = self.D, self.Vc
        else:
            D, Vc = (as_backend(x.toarray(), backend, device) for x in (self.D, self.Vc))
        return dlra.LinearField([(D, None), (None, D), (Vc, Vc)], coeffs=list(self.coeffs))

    def _reference(self, t: float) -> np.ndarray:
        a0 = self.initial()
        if t == self.t0:
            return a0
        y = expm_multiply(-1j * (t - self.t0) * self._H, a0.ravel())
        return np.asarray(y).reshape(a0.shape)
