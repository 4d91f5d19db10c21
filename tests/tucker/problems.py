"""Small analytic Tucker problems for the tests (non-cubic shapes, real or complex)."""

from __future__ import annotations

import numpy as np
import scipy.linalg as sl
import scipy.sparse as sp

import dlra
from dlra.tucker import TuckerTensor, mode_product, multi_mode_product

SHAPE = (12, 15, 18)
RANKS = (2, 3, 4)


def skew(
    rng: np.random.Generator, n: int, scale: float = 1.0, complex_: bool = False
) -> np.ndarray:
    """Skew-Hermitian matrix of spectral norm ``scale``."""
    W = rng.standard_normal((n, n))
    if complex_:
        W = W + 1j * rng.standard_normal((n, n))
    W = W - W.conj().T
    return scale * W / np.linalg.norm(W, 2)


def orthonormal(rng: np.random.Generator, n: int, r: int, complex_: bool = False) -> np.ndarray:
    X = rng.standard_normal((n, r))
    if complex_:
        X = X + 1j * rng.standard_normal((n, r))
    return np.linalg.qr(X)[0]


def random_tucker(shape=SHAPE, ranks=RANKS, seed=0, complex_=False) -> TuckerTensor:
    rng = np.random.default_rng(seed)
    core = rng.standard_normal(ranks)
    if complex_:
        core = core + 1j * rng.standard_normal(ranks)
    return TuckerTensor(core, [orthonormal(rng, n, r, complex_) for n, r in zip(shape, ranks)])


class RotatingTucker:
    """``A(t) = eᵗ C₀ ×₁ e^{tW₁}Q₁ ×₂ e^{tW₂}Q₂ ×₃ e^{tW₃}Q₃`` (T6 of integrators.md).

    ``C₀`` of size ``ranks`` (exact multilinear rank), optionally embedded in a core of size
    ``full`` with entries of size ``tail`` outside (a perturbation of higher rank).
    """

    def __init__(self, shape=SHAPE, ranks=RANKS, scale=1.0, seed=1, tail=0.0, complex_=False):
        rng = np.random.default_rng(seed)
        self.W = [skew(rng, n, scale, complex_) for n in shape]
        self.Q = [orthonormal(rng, n, n if tail else r, complex_) for n, r in zip(shape, ranks)]
        core_shape = shape if tail else ranks
        C = tail * rng.standard_normal(core_shape)
        C[tuple(slice(0, r) for r in ranks)] = rng.standard_normal(ranks)
        self.C0 = C.astype(complex) if complex_ else C
        self.shape, self.ranks = shape, ranks
        # e^{tW} = V e^{-itΛ} Vᴴ from the eigendecomposition of the Hermitian iW (fast, exact)
        self._eig = [np.linalg.eigh(1j * W) for W in self.W]
        self._real = not complex_

    def rotation(self, i: int, t: float) -> np.ndarray:
        lam, V = self._eig[i]
        R = (V * np.exp(-1j * t * lam)) @ V.conj().T
        return R.real if self._real else R

    def A(self, t: float) -> np.ndarray:
        return np.exp(t) * multi_mode_product(
            self.C0, [self.rotation(i, t) @ Q for i, Q in enumerate(self.Q)]
        )

    def dA(self, t: float) -> np.ndarray:
        a = self.A(t)
        return a + sum(mode_product(a, W, i) for i, W in enumerate(self.W))

    def field(self) -> dlra.DataField:
        return dlra.DataField(self.A, self.dA)


class Sylvester:
    """``F(Y) = Σᵢ Y ×ᵢ Bᵢ (+ c·Y ×₁ P₁ ×₂ P₂ ×₃ P₃)`` with ``Bᵢ = Wᵢ + I/2``.

    Without coupling (``c = 0``) the field is tangent to every Tucker manifold: the exact solution
    ``Y₀ ×ᵢ e^{tBᵢ}`` keeps the multilinear rank (zero modelling error).  The coupling term raises
    the rank (normal component ≠ 0).
    """

    def __init__(self, shape=SHAPE, coupling=0.0, seed=3, scale=1.0):
        rng = np.random.default_rng(seed)
        self.B = [skew(rng, n, scale) + 0.5 * np.eye(n) for n in shape]
        self.P = [rng.standard_normal((n, n)) / np.sqrt(n) for n in shape]
        self.coupling = coupling
        self.shape = shape

    def field(self) -> dlra.LinearField:
        d = len(self.shape)
        terms = [tuple(B if j == i else None for j in range(d)) for i, B in enumerate(self.B)]
        coeffs = [1.0] * d
        if self.coupling:
            terms.append(tuple(self.P))
            coeffs.append(self.coupling)
        return dlra.LinearField(terms, coeffs)

    def exact(self, Y0: TuckerTensor, t: float) -> np.ndarray:
        assert self.coupling == 0
        return multi_mode_product(Y0.to_dense(), [sl.expm(t * B) for B in self.B])


def laplacian(n: int, sparse: bool = False):
    """Dirichlet ``tridiag(−1, 2, −1)`` (unscaled, norm < 4)."""
    D = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csr")
    return D if sparse else D.toarray()


def schrodinger(shape=(10, 12, 14), couple=(0, 1)) -> dlra.LinearField:
    """``i Ẏ = Σᵢ Y ×ᵢ Dᵢ + Y ×ₐ Vₐ ×_b V_b`` (Hermitian, norm conserving); the potential couples
    only the modes ``couple``, so the other modes keep their rank."""
    d = len(shape)
    terms = [tuple(laplacian(n) if j == i else None for j in range(d)) for i, n in enumerate(shape)]
    potential = []
    for j, n in enumerate(shape):
        x = np.arange(n)
        potential.append(np.diag(1 - np.cos(2 * np.pi * x / n)) if j in couple else None)
    terms.append(tuple(potential))
    return dlra.LinearField(terms, [-1j] * len(terms))


def solve_tucker(F, Y0, t_span, **kwargs) -> dlra.Solution:
    """``dlra.solve`` with the field adapted for Tucker states (see test_solve_accepts_raw_fields)."""
    return dlra.solve(F, Y0, t_span, **kwargs)


def fitted_order(hs, errors) -> float:
    return float(np.polyfit(np.log(hs), np.log(errors), 1)[0])
