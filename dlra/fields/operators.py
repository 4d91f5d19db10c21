"""Uniform wrappers for the operators a :class:`~dlra.LinearField` applies to factors.

An operator acts on the rows (or columns) of a factor: ``op @ X`` for ``X`` of shape ``(n, k)``.
Accepted: ``None`` (identity), numpy arrays, scipy sparse matrices/arrays, scipy ``LinearOperator``,
torch dense tensors and torch sparse (COO/CSR) tensors.  The adjoint is prepared once; casts to the
state's dtype are cached, so a float32 or complex state never promotes silently.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .._backend import (
    _BLAS_TYPES,
    NUMPY,
    _scalar_keeps,
    backend_of,
    is_torch_tensor,
    row_chunks,
)
from .._workspace import copy_scratch, zeros_scratch

__all__ = ["Operator", "as_operator"]


class Operator:
    """A linear operator ``K^n → K^n`` applied to blocks of columns."""

    def __init__(self, op: Any, name: str) -> None:
        self.name = name
        self.raw = op
        self._cache: dict[Any, Any] = {}
        self.identity = op is None
        #: True when apply/apply_conj always return a new array (never the input or a view of it);
        #: user LinearOperators may return their input, the identity does
        self.returns_new = False
        if op is None:
            self.kind = "identity"
            self.shape: tuple[int, int] | None = None
            self.backend = None
            self.is_complex = False
            return
        if is_torch_tensor(op):
            self.kind = "torch_sparse" if op.layout != _torch_strided() else "torch_dense"
            self.backend = backend_of(op)
            self.is_complex = bool(op.is_complex())
        elif isinstance(op, np.ndarray):
            self.kind = "dense"
            self.backend = NUMPY
            self.is_complex = bool(np.iscomplexobj(op))
        else:
            import scipy.sparse as sp
            import scipy.sparse.linalg as spla

            if sp.issparse(op):
                self.kind = "sparse"
                op = sp.csr_matrix(op)
                self.raw = op
                self.is_complex = bool(np.iscomplexobj(op.data))
            elif isinstance(op, spla.LinearOperator):
                self.kind = "linear_operator"
                self.is_complex = np.issubdtype(np.dtype(op.dtype), np.complexfloating)
                _require_adjoint(op, name)
            else:
                raise TypeError(
                    f"{name} must be None, a numpy array, a scipy sparse matrix, a scipy "
                    f"LinearOperator or a torch tensor, got {type(op).__name__}"
                )
            self.backend = NUMPY
        shape = tuple(op.shape)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"{name} must be a square 2-D operator, got shape {shape}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.returns_new = self.kind != "linear_operator"
        self._norm_bound: float | None = None

    # -- casting --------------------------------------------------------------------------------
    def _pair(self, like: Any) -> tuple[Any, Any]:
        """(op, opᴴ) in the dtype (and device) of ``like``, cached."""
        key = (like.dtype, str(getattr(like, "device", "cpu")))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        op = self.raw
        if self.kind == "dense":
            if np.iscomplexobj(op) and not np.iscomplexobj(like):
                raise TypeError(f"{self.name} is complex but the state is real; pass a complex Y0")
            a = op.astype(like.dtype, copy=False)
            pair = (a, a.conj().T)
        elif self.kind == "sparse":
            if self.is_complex and not np.iscomplexobj(like):
                raise TypeError(f"{self.name} is complex but the state is real; pass a complex Y0")
            a = op.astype(like.dtype)
            pair = (a, a.conj().T.tocsr())
        elif self.kind == "linear_operator":
            pair = (op, None)
        elif self.kind == "torch_dense":
            if op.is_complex() and not like.is_complex():
                raise TypeError(f"{self.name} is complex but the state is real; pass a complex Y0")
            a = op.to(device=like.device, dtype=like.dtype)
            pair = (a, a.mH.contiguous())
        else:  # torch sparse
            if op.is_complex() and not like.is_complex():
                raise TypeError(f"{self.name} is complex but the state is real; pass a complex Y0")
            coo = op.to_sparse_coo().coalesce().to(device=like.device, dtype=like.dtype)
            adj = coo.transpose(0, 1).conj().coalesce()
            pair = (_torch_fast_sparse(coo), _torch_fast_sparse(adj))
        self._cache[key] = pair
        return pair

    def check_backend(self, like: Any) -> None:
        if self.backend is None:
            return
        be = backend_of(like)
        if be != self.backend:
            raise TypeError(
                f"{self.name} is a {self.backend.name} operator but the state is a {be.name} array; "
                "use operators from the same library as Y0 (torch.sparse for torch states)"
            )

    @property
    def is_hermitian(self) -> bool:
        """True when the operator equals its adjoint exactly (checked once on its entries; False
        for LinearOperators, whose entries are not known).  Projected operators of Hermitian
        operators get their off-diagonal blocks from one another."""
        hit = self._cache.get("hermitian")
        if hit is None:
            hit = self._cache["hermitian"] = self._check_hermitian()
        return hit

    def _check_hermitian(self) -> bool:
        op = self.raw
        if self.identity:
            return True
        if self.kind == "dense":
            return bool(np.array_equal(op, op.conj().T))
        if self.kind == "sparse":
            return (op != op.conj().T).nnz == 0
        if self.kind == "torch_dense":
            return bool((op == op.mH).all())
        if self.kind == "torch_sparse":
            a = op.to_sparse_coo().coalesce()
            b = a.transpose(0, 1).conj().coalesce()
            return bool(a.indices().shape == b.indices().shape) and bool(
                (a.indices() == b.indices()).all() and (a.values() == b.values()).all()
            )
        return False

    # -- application ----------------------------------------------------------------------------
    def apply(self, x: Any) -> Any:
        """``op @ x``."""
        if self.identity:
            return x
        a, _ = self._pair(x)
        if self.kind == "linear_operator":
            return _as_dtype(a.matmat(x), x)
        if self.kind == "sparse":
            return _csr_product(a, x)
        if self.kind == "torch_sparse":
            return _torch_sparse_product(a, x)
        return a @ x

    def apply_adjoint(self, x: Any) -> Any:
        """``opᴴ @ x``."""
        if self.identity:
            return x
        a, ah = self._pair(x)
        if self.kind == "linear_operator":
            return _as_dtype(a.rmatmat(x), x)
        if self.kind == "sparse":
            return _csr_product(ah, x)
        if self.kind == "torch_sparse":
            return _torch_sparse_product(ah, x)
        return ah @ x

    def apply_transpose(self, x: Any) -> Any:
        """``opᵀ @ x`` (equals ``opᴴ x`` for real operators)."""
        if self.identity:
            return x
        if not self.is_complex:
            return self.apply_adjoint(x)
        be = backend_of(x)
        return be.conj(self.apply_adjoint(be.conj(x)))

    def apply_conj(self, x: Any) -> Any:
        """``conj(op) @ x``."""
        if self.identity or not self.is_complex:
            return self.apply(x)
        be = backend_of(x)
        return be.conj(self.apply(be.conj(x)))

    def accumulate(self, x: Any, out: Any, c: Any = 1.0, *, conj: bool = False) -> None:
        """``out += c · (op @ x)`` (``conj(op) @ x`` with ``conj=True``) in place.

        numpy and scipy sparse operators work on row chunks of ``op``
        (:func:`~dlra._backend.row_chunks`; the row slices are cut once and cached), so the
        temporaries are one chunk of ``out``; other operators add one full product.
        """
        be = backend_of(out)
        if self.identity:
            be.add_scaled_(out, x, c)
            return
        if (
            self.kind == "sparse"
            and out.ndim == 2
            and _csr_accumulate_chunks(self._row_blocks(x, conj), x, out, c)
        ):
            return
        if self.kind in ("dense", "sparse") and out.ndim == 2:
            for (i, j), rows in zip(row_chunks(out.shape[0]), self._row_blocks(x, conj)):
                part = rows @ x
                if c != 1:
                    part = _scaled(part, c)
                out[i:j] += part
            return
        # torch: addmm_ into out (sparse operators on the CPU only, where it was measured)
        torch_ok = self.kind == "torch_dense" or (
            self.kind == "torch_sparse" and out.device.type == "cpu"
        )
        if (
            torch_ok
            and not (conj and self.is_complex)
            and _torch_addmm_(self._pair(x)[0], x, out, c)
        ):
            return
        value = self.apply_conj(x) if conj else self.apply(x)
        be.add_scaled_(out, value, c)

    def sandwich(self, x: Any) -> Any:
        """``xᴴ · op · x`` (small).  numpy dense and sparse operators sum it over the row chunks
        of ``op`` (temporaries of one chunk, not of the whole ``op @ x``)."""
        be = backend_of(x)
        if self.kind in ("dense", "sparse") and x.ndim == 2 and len(row_chunks(x.shape[0])) > 1:
            out = None
            for (i, j), rows in zip(row_chunks(x.shape[0]), self._row_blocks(x, False)):
                part = be.inner(x[i:j], rows @ x)
                out = part if out is None else out + part
            return out
        return be.inner(self.apply_adjoint(x), x)

    def _row_blocks(self, like: Any, conj: bool) -> list[Any]:
        """The operator (or its conjugate) cut into the row chunks of its size, cached per dtype."""
        key = ("rows", like.dtype, conj)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        a, _ = self._pair(like)
        if conj and self.is_complex:
            a = a.conj()
        blocks = [a[i:j] for i, j in row_chunks(self.shape[0])]
        self._cache[key] = blocks
        return blocks

    def norm_bound(self) -> float:
        """An upper bound of the spectral norm: ``sqrt(‖op‖₁ ‖op‖_∞)`` (estimated for LinearOperators)."""
        if self.identity:
            return 1.0
        if self._norm_bound is None:
            op = self.raw
            if self.kind == "dense":
                a = np.abs(op)
                bound = math.sqrt(a.sum(axis=0).max() * a.sum(axis=1).max())
            elif self.kind == "sparse":
                a = abs(op)
                bound = math.sqrt(a.sum(axis=0).max() * a.sum(axis=1).max())
            elif self.kind == "linear_operator":
                import scipy.sparse.linalg as spla

                bound = math.sqrt(spla.onenormest(op) * spla.onenormest(op.H))
            elif self.kind == "torch_sparse":
                import torch

                a = op.to_sparse_coo().coalesce().abs()
                cols = torch.sparse.sum(a, dim=0).to_dense().max()
                rows = torch.sparse.sum(a, dim=1).to_dense().max()
                bound = math.sqrt(float(cols) * float(rows))
            else:
                a = op.abs()
                bound = math.sqrt(float(a.sum(dim=0).max()) * float(a.sum(dim=1).max()))
            self._norm_bound = float(bound)
        return self._norm_bound

    def small(self, left: Any, right: Any) -> Any:
        """``leftᴴ · op · right`` for factor blocks (the projected operator, small)."""
        be = backend_of(left)
        return be.inner(self.apply_adjoint(left), right)

    def dense(self, like: Any) -> Any:
        """The operator as a dense array of ``like``'s kind (for small problems and tests)."""
        if self.identity:
            raise ValueError("identity has no fixed size")
        n = self.shape[0]
        be = backend_of(like)
        return self.apply(be.eye(n, like=like))


@functools.cache
def _csr_kernel() -> Callable[..., None] | None:
    """scipy's compiled CSR kernel ``Y += A X`` (``scipy.sparse._sparsetools.csr_matvecs``, the
    loop behind ``csr @ dense``), or None where this scipy lacks it or it does not accumulate as
    expected (checked once on a 2 × 2 example)."""
    try:
        import scipy.sparse as sp
        from scipy.sparse import _sparsetools

        kernel = _sparsetools.csr_matvecs
        a = sp.csr_matrix(np.array([[1.0, 2.0], [0.0, 3.0]]))
        x = np.array([[1.0, 0.0], [1.0, 2.0]])
        y = np.ones((2, 2))
        kernel(2, 2, 2, a.indptr, a.indices, a.data, x.ravel(), y.ravel())
        return kernel if np.array_equal(y, 1.0 + a @ x) else None
    except Exception:  # any failure means: use the public ``csr @ dense``
        return None


def _csr_product(a: Any, x: Any) -> Any:
    """``a @ x`` for a CSR matrix ``a`` in the dtype of ``x`` (:meth:`Operator._pair`): scipy's
    kernel into a zeroed block (what ``csr @ dense`` does, without its per-call dispatch, about
    5 µs), for 2-D numpy blocks; the public product for anything else."""
    if type(x) is np.ndarray and x.ndim == 2 and x.shape[0] == a.shape[1] and x.size > 0:
        out = zeros_scratch((a.shape[0], x.shape[1]), like=x)
        if not x.flags.c_contiguous:
            x = copy_scratch(x)
        if _csr_accumulate_chunks([a], x, out, 1.0, chunked=False):
            return out
    return a @ x


def _csr_accumulate_chunks(
    blocks: list[Any], x: np.ndarray, out: np.ndarray, c: Any, *, chunked: bool = True
) -> bool:
    """``out[rows] += c · (block @ x)`` for the CSR row blocks of :meth:`Operator._row_blocks`
    with scipy's kernel accumulating straight into ``out``: no product temporary, no extra pass
    to add it, none of ``csr @ dense``'s per-call checks.  ``c ≠ 1`` scales the block's nonzeros
    (a temporary of nnz entries) instead of the product.  Returns False, having done nothing,
    where the kernel does not apply: no kernel, dtypes that differ, non-contiguous blocks,
    ``x`` overlapping ``out``."""
    dtype = out.dtype
    if (
        x.dtype != dtype
        or not (x.flags.c_contiguous and out.flags.c_contiguous)
        or np.may_share_memory(x, out)
    ):
        return False
    kernel = _csr_kernel()
    if kernel is None:
        return False
    if c != 1 and not (dtype.char in _BLAS_TYPES and _scalar_keeps(dtype, c)):
        return False
    # the blocks are slices of one CSR matrix: one dtype, one index type
    first = blocks[0]
    if first.data.dtype != dtype or first.indices.dtype != first.indptr.dtype:
        return False
    # the kernel does not check shapes: a mismatch goes to the public product, which raises
    n_rows = sum(b.shape[0] for b in blocks)
    if x.ndim != 2 or x.shape[0] != first.shape[1] or out.shape != (n_rows, x.shape[1]):
        return False
    n_vecs = x.shape[1]
    x_flat = x.ravel()
    ranges = row_chunks(out.shape[0]) if chunked else ((0, out.shape[0]),)
    for (i, j), rows in zip(ranges, blocks):
        data = rows.data if c == 1 else np.multiply(rows.data, c, dtype=dtype)
        kernel(
            j - i, rows.shape[1], n_vecs, rows.indptr, rows.indices, data, x_flat, out[i:j].ravel()
        )
    return True


def _torch_addmm_(a: Any, x: Any, out: Any, c: Any) -> bool:
    """``out += c · (a @ x)`` in place with torch's ``addmm_`` (no product temporary); False,
    having done nothing, where it does not apply: blocks that are not 2-D, dtypes that differ,
    tensors that track gradients, a coefficient that would change the dtype of ``out``.

    For a sparse CSR ``a`` on the CPU this is also the faster kernel: at n = 2^16, r = 16,
    ``out.addmm_(A, x)`` took 0.6–0.8 ms where ``A @ x`` took 1.1 ms, and at 2^18 3–4 ms against
    32 ms (a fresh 32 MiB result is page-faulted in; measured 2026-11-24, one thread)."""
    import torch

    # COO: addmm_ ignores a lazily conjugated x (torch 2.13); strided and CSR honour it
    if a.layout not in (torch.strided, torch.sparse_csr):
        return False
    if not (
        out.dim() == 2
        and x.dim() == 2
        and out.dtype == x.dtype == a.dtype
        and not (out.requires_grad or x.requires_grad or a.requires_grad)
        and out.device == x.device
    ):
        return False
    if isinstance(c, complex) and not out.is_complex():
        return False
    if not isinstance(c, (int, float, complex)) or isinstance(c, bool):
        return False
    try:
        out.addmm_(a, x, alpha=c)
    except (RuntimeError, NotImplementedError):  # pragma: no cover - a layout without the kernel
        return False
    return True


def _torch_sparse_product(a: Any, x: Any) -> Any:
    """``a @ x`` for a torch sparse ``a``: on the CPU, ``addmm_`` into a zeroed block — the
    faster kernel there (see :func:`_torch_addmm_`); elsewhere (CUDA, 1-D ``x``, gradients) the
    plain product."""
    if x.device.type == "cpu" and x.dim() == 2 and x.dtype == a.dtype:
        out = x.new_zeros((a.shape[0], x.shape[1]))
        if _torch_addmm_(a, x, out, 1.0):
            return out
    return a @ x


def _scaled(part: np.ndarray, c: Any) -> np.ndarray:
    """``c · part``, in place when the dtype allows it (``part`` is a fresh temporary)."""
    if np.result_type(part.dtype, c) == part.dtype:
        part *= c
        return part
    return part * c


def _as_dtype(y: Any, like: Any) -> Any:
    return y if y.dtype == like.dtype else y.astype(np.result_type(y.dtype, like.dtype))


def _torch_strided() -> Any:
    import torch

    return torch.strided


def _torch_fast_sparse(coo: Any) -> Any:
    """CSR is the fast layout for sparse × dense on CPU and CUDA; keep COO where CSR is unsupported."""
    try:
        with warnings.catch_warnings():
            # torch marks CSR "beta" with a UserWarning on every conversion; it is the fast layout
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return coo.to_sparse_csr()
    except (RuntimeError, NotImplementedError):  # pragma: no cover - depends on torch build
        return coo


def as_operator(op: Any, name: str) -> Operator:
    return op if isinstance(op, Operator) else Operator(op, name)


def _require_adjoint(op: Any, name: str) -> None:
    """A scipy ``LinearOperator`` that can apply its adjoint (the L-steps need ``Aᴴ``), probed
    once on a zero block; else a TypeError naming it."""
    try:
        op.rmatmat(np.zeros((op.shape[0], 1), dtype=op.dtype))
    except (NotImplementedError, TypeError):
        raise TypeError(
            f"{name} is a LinearOperator that cannot apply its adjoint: give it "
            "rmatvec= (and rmatmat= for speed); the integrators apply Aᴴ in their L-steps"
        ) from None
