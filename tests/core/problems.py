"""Small analytic problems for the core tests (rectangular, real or complex)."""

from __future__ import annotations

import numpy as np
import scipy.linalg as sl


def skew(
    rng: np.random.Generator, n: int, scale: float = 1.0, complex_: bool = False
) -> np.ndarray:
    """Skew-Hermitian matrix with spectral norm ``scale``."""
    W = rng.standard_normal((n, n))
    if complex_:
        W = W + 1j * rng.standard_normal((n, n))
    W = W - W.conj().T
    return scale * W / np.linalg.norm(W, 2)


class RotatingData:
    """``A(t) = e^{tW₁} e^{t} D e^{tW₂}ᵀ`` with singular values ``eᵗ σ_j`` (T2 of integrators.md).

    ``sigma`` gives the singular values (``rank`` nonzero of them: exact-rank data, or a decaying
    tail for perturbed data).  Rectangular ``n × m``.
    """

    def __init__(self, n=40, m=30, sigma=None, rank=4, scale=1.0, seed=0, complex_=False):
        rng = np.random.default_rng(seed)
        self.W1 = skew(rng, n, scale, complex_)
        self.W2 = skew(rng, m, scale, complex_)
        if sigma is None:
            sigma = 2.0 ** -np.arange(1, rank + 1)
        self.D = np.zeros((n, m), dtype=complex if complex_ else float)
        k = len(sigma)
        self.D[np.arange(k), np.arange(k)] = sigma
        self.n, self.m = n, m
        self.complex = complex_

    def A(self, t: float) -> np.ndarray:
        return sl.expm(t * self.W1) @ (np.exp(t) * self.D) @ sl.expm(t * self.W2).T

    def dA(self, t: float) -> np.ndarray:
        A = self.A(t)
        return self.W1 @ A + A + A @ self.W2.T

    # ODE form F(Y) = B1 Y + Y B2ᵀ with B1 = W1 + I/2, B2 = W2 + I/2 (tangent for every rank-r Y)
    @property
    def B1(self) -> np.ndarray:
        return self.W1 + 0.5 * np.eye(self.n)

    @property
    def B2(self) -> np.ndarray:
        return self.W2 + 0.5 * np.eye(self.m)


def schrodinger(N: int = 40):
    """T4: ``i Ȧ = ½(DA + AD) + V A V`` (Dirichlet), as terms for ``LinearField`` with coefficient −i."""
    D = 2 * np.eye(N) - np.eye(N, k=1) - np.eye(N, k=-1)
    j = np.arange(-N // 2, N // 2)
    Vc = np.diag(1 - np.cos(2 * np.pi * j / N))
    terms = [(D, None), (None, D), (Vc, Vc)]
    coeffs = [-0.5j, -0.5j, -1j]
    return terms, coeffs, (D, Vc)


def schrodinger_initial(N: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.uniform(size=(N, N)))
    V, _ = np.linalg.qr(rng.uniform(size=(N, N)))
    s = 10.0 ** -np.arange(1, N + 1)
    s /= np.linalg.norm(s)
    return (U * s) @ V.T
