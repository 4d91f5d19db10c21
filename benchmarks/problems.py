"""The benchmark problems: heat and Schrödinger-type ``LinearField`` s with sparse operators.

Every problem is built for a backend (``"numpy"``, ``"torch"`` CPU or ``"cuda"``), a size ``n = m``
and a rank ``r``; operators are scipy CSR matrices (numpy) or torch sparse CSR tensors (torch).

* heat: ``Ẏ = L Y + Y Lᵀ`` with the tridiagonal second difference ``L = tridiag(1, −2, 1)``
  (``‖L‖ ≤ 4``), terms ``(L, None), (None, L)``; the step ``h = 0.05`` keeps ``h‖F‖ = 0.4`` the
  size of a stable explicit step whatever ``n``, so no run overflows.
* schrodinger: ``Ẏ = −i (D Y + Y Dᵀ + V Y Vᵀ)`` with ``D = tridiag(1, −2, 1)`` and the diagonal
  potential ``V = diag(cos 2πx)``, terms ``(D, None), (None, D), (V, V)``, complex state.
* heat_graded: the heat problem from a state whose singular values fall to 1e-14, with
  ``h = 1e-3`` — a convergence study's step on a state with tiny singular values, where
  orthonormalisations and augmentations meet blocks too ill-conditioned for Cholesky factors.
* tucker heat: ``Ẏ = Σᵢ Y ×ᵢ L`` on an n × n × n tensor of multilinear rank (r, r, r).

Initial states have orthonormal random factors and singular values ``10^(−3j/r)`` (a decaying
spectrum, so the rank-adaptive methods keep the rank).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

import dlra

__all__ = ["Problem", "make_problem", "make_tucker_problem", "second_difference"]

STEP = 0.05
#: heat_graded: the small step of a convergence study
GRADED_STEP = 1e-3


@dataclass
class Problem:
    """A field, an initial state and a step size, with what the floor model needs."""

    name: str
    backend: str
    n: int
    r: int
    field: Any
    Y0: Any
    h: float
    #: per field evaluation: sparse products on an n × r block, small (r × r) products on it
    sparse_products: int
    small_products: int
    #: the sparse operators (backend arrays), for the floor measurement and the dense baseline
    operators: dict[str, Any]

    @property
    def dtype(self) -> Any:
        return self.Y0.dtype


def second_difference(n: int) -> sp.csr_matrix:
    """``tridiag(1, −2, 1)`` of size n (CSR, float64)."""
    e = np.ones(n)
    return sp.diags([e[:-1], -2 * e, e[:-1]], [-1, 0, 1], format="csr")


def _device(backend: str) -> str:
    return "cuda" if backend == "cuda" else "cpu"


def to_backend(op: sp.spmatrix, backend: str, dtype: Any) -> Any:
    """A scipy sparse matrix as the backend's sparse type and dtype."""
    if backend == "numpy":
        return sp.csr_matrix(op, dtype=dtype)
    import torch

    csr = sp.csr_matrix(op)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.as_tensor(csr.indptr, dtype=torch.int64),
            torch.as_tensor(csr.indices, dtype=torch.int64),
            torch.as_tensor(csr.data, dtype=dtype),
            size=csr.shape,
            device=_device(backend),
            check_invariants=False,
        )


def _dtypes(backend: str, precision: str, complex_: bool) -> Any:
    name = {("single", False): "float32", ("double", False): "float64"}
    name.update({("single", True): "complex64", ("double", True): "complex128"})
    key = name[(precision, complex_)]
    if backend == "numpy":
        return np.dtype(key)
    import torch

    return getattr(torch, key)


def random_orthonormal(n: int, r: int, rng: np.random.Generator) -> np.ndarray:
    """An n × r matrix with orthonormal columns (Cholesky-QR2 of a Gaussian block)."""
    q, _ = dlra.orthonormalize(rng.standard_normal((n, r)))
    return q


def initial_state(
    n: int, r: int, backend: str, dtype: Any, seed: int = 0, *, graded: bool = False
) -> dlra.LowRankMatrix:
    """Random orthonormal factors, singular values ``10^(−3j/r)`` (``graded``: ``10^(−14j/(r−1))``,
    down to 1e-14), of the backend and dtype."""
    rng = np.random.default_rng(seed)
    U = random_orthonormal(n, r, rng)
    V = random_orthonormal(n, r, rng)
    exponents = 14.0 * np.arange(r) / max(r - 1, 1) if graded else 3.0 * np.arange(r) / r
    S = np.diag(10.0**-exponents)
    if backend == "numpy":
        arrays = [x.astype(dtype) for x in (U, S, V)]
    else:
        import torch

        arrays = [torch.as_tensor(x, dtype=dtype, device=_device(backend)) for x in (U, S, V)]
    return dlra.LowRankMatrix(*arrays, check=False)


def make_problem(
    kind: str, n: int, r: int, backend: str = "numpy", precision: str = "double"
) -> Problem:
    """The ``"heat"``, ``"heat_graded"`` or ``"schrodinger"`` problem of size n × n at rank r."""
    L = second_difference(n)
    if kind in ("heat", "heat_graded"):
        dtype = _dtypes(backend, precision, False)
        op = to_backend(L, backend, dtype)
        field = dlra.LinearField([(op, None), (None, op)])
        graded = kind == "heat_graded"
        Y0 = initial_state(n, r, backend, dtype, graded=graded)
        h = GRADED_STEP if graded else STEP
        return Problem(kind, backend, n, r, field, Y0, h, 1, 1, {"L": op})
    if kind == "schrodinger":
        dtype = _dtypes(backend, precision, True)
        x = np.arange(n) / n
        V = sp.diags(np.cos(2 * np.pi * x), format="csr")
        D_op, V_op = to_backend(L, backend, dtype), to_backend(V, backend, dtype)
        field = dlra.LinearField([(D_op, None), (None, D_op), (V_op, V_op)], [-1j, -1j, -1j])
        Y0 = initial_state(n, r, backend, dtype)
        return Problem("schrodinger", backend, n, r, field, Y0, STEP, 2, 2, {"L": D_op, "V": V_op})
    raise ValueError(f"unknown problem {kind!r}; use 'heat', 'heat_graded' or 'schrodinger'")


def make_tucker_problem(n: int, r: int, d: int = 3, seed: int = 0) -> Problem:
    """d-dimensional heat equation ``Ẏ = Σᵢ Y ×ᵢ L`` on nᵈ entries, multilinear rank (r, …, r)."""
    L = second_difference(n)
    terms = [tuple(L if j == i else None for j in range(d)) for i in range(d)]
    field = dlra.LinearField(terms)
    rng = np.random.default_rng(seed)
    factors = [random_orthonormal(n, r, rng) for _ in range(d)]
    core = rng.standard_normal((r,) * d)
    core /= np.linalg.norm(core)
    Y0 = dlra.TuckerTensor(core, factors, check=False)
    return Problem(f"heat{d}d", "numpy", n, r, field, Y0, STEP, 1, 0, {"L": L})
