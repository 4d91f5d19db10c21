"""Array-backend dispatch: numpy or torch, chosen from the arrays the caller passes.

There is no global backend.  :func:`backend_of` inspects its arguments and returns a small
stateless :class:`Backend` whose methods wrap the handful of operations the integrators need
(matrix products with conjugate transposes, QR, SVD, Cholesky, norms, concatenation).  The
numpy backend also serves scipy sparse matrices and ``LinearOperator`` s; the torch backend
serves dense and sparse tensors on any device.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Backend", "backend_of", "is_torch_tensor", "row_chunks"]

# In-place updates of tall blocks work on row chunks of at least this many rows, at most
# _MAX_CHUNKS of them: the temporaries of an update are then ≤ 1/_MAX_CHUNKS of the block.
_MIN_CHUNK_ROWS = 1024
_MAX_CHUNKS = 16


@functools.lru_cache(maxsize=64)
def row_chunks(n: int) -> tuple[tuple[int, int], ...]:
    """Row ranges ``(i, j)`` that split ``n`` rows for in-place updates: one range up to
    ``2 · 1024`` rows, otherwise at most 16 ranges of at least 1024 rows each."""
    if n <= 2 * _MIN_CHUNK_ROWS:
        return ((0, n),)
    size = max(_MIN_CHUNK_ROWS, -(-n // _MAX_CHUNKS))
    return tuple((i, min(i + size, n)) for i in range(0, n, size))


_BLAS_TYPES = frozenset("fdFD")

# Row blocks of the TSQR in `NumpyBackend.qr`/`qr_r` (1024 × 32 float64 is 256 KiB: in cache).
_TSQR_ROWS = 1024


def _tsqr_blocks(x: np.ndarray) -> tuple[int, int]:
    """``(blocks, rows)``: how many row blocks of ``rows = max(1024, 4p)`` rows the TSQR of a 2-D
    ``x`` (n × p) uses (fewer than 2: a plain Householder QR is used)."""
    if x.ndim != 2:
        return 0, 0
    rows = max(_TSQR_ROWS, 4 * x.shape[1])
    return x.shape[0] // rows, rows


def _stack_factors(r_blocks: np.ndarray, remainder: np.ndarray) -> np.ndarray:
    """The row blocks' ``R`` factors (blocks × p × p) stacked, with the remainder rows below."""
    blocks, p, _ = r_blocks.shape
    stacked = r_blocks.reshape(blocks * p, p)
    if remainder.shape[0]:
        stacked = np.concatenate([stacked, remainder.astype(stacked.dtype, copy=False)])
    return stacked


def _blas_ready(y: np.ndarray, a: Any, x: np.ndarray) -> bool:
    """True when ``y (+)= a · f(x)`` may go to a BLAS routine working in ``y``: 2-D C-contiguous
    blocks of one BLAS dtype, a scalar that does not promote it, no overlap, sizes within the
    32-bit integers of the BLAS interface and not empty (scipy's wrappers reject empty arrays)."""
    return (
        y.ndim == 2
        and x.ndim == 2
        and y.dtype == x.dtype
        and y.dtype.char in _BLAS_TYPES
        and y.flags.c_contiguous
        and x.flags.c_contiguous
        and y.flags.writeable
        and 0 < min(y.size, x.size)
        and max(y.size, x.size) < 2**31
        and _scalar_keeps(y.dtype, a)
        and not np.may_share_memory(x, y)
    )


def _scalar_keeps(dtype: np.dtype, a: Any) -> bool:
    """True when the scalar ``a`` times an array of the BLAS ``dtype`` stays in ``dtype``."""
    kind = type(a)
    if kind is float or kind is int:  # Python scalars are weak: they never promote a float array
        return True
    if kind is complex:
        return dtype.kind == "c"
    return isinstance(a, np.number) and np.result_type(dtype, a) == dtype


@functools.lru_cache(maxsize=16)
def _blas_function(name: str, dtype: np.dtype) -> Any:
    from scipy.linalg import blas

    return blas.get_blas_funcs(name, dtype=dtype)


@functools.lru_cache(maxsize=32)
def lapack_function(name: str, dtype: np.dtype) -> Any:
    """scipy's LAPACK routine ``name`` for ``dtype``, looked up once (the lookup costs about as
    much as the routine on the small matrices a step factors)."""
    from scipy.linalg import lapack

    return lapack.get_lapack_funcs(name, dtype=dtype)


# OpenBLAS runs a product whose m·n·k is at most this through its small-matrix kernels, several
# times faster for tall-skinny shapes than its general path (measured: 16·16·1024 rows fast,
# 16·16·4096 not).  Products are chunked only where numpy and scipy run on OpenBLAS.
_SMALL_GEMM_MNK = 2**18


@functools.cache
def _chunking_pays() -> bool:
    """True when numpy and scipy both run on OpenBLAS (whose small-matrix kernels the row chunks
    are sized for); elsewhere the chunks would only add calls, so products are not chunked."""
    try:
        import scipy

        names = [
            str(mod.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]).lower()
            for mod in (np, scipy)
        ]
    except Exception:  # an older library or another layout of its build information
        return False
    return all("openblas" in name for name in names)


def _small_kernel_rows(dtype: np.dtype, small_size: int) -> int | None:
    """Rows per chunk of a tall-skinny product whose small dimensions multiply to
    ``small_size`` (``p·q``), sized for OpenBLAS's small-matrix kernels; None where products are
    not chunked (not a real BLAS dtype, ``p·q`` zero or above 1024, or no OpenBLAS)."""
    if dtype.char not in "fd" or not 0 < small_size <= 1024 or not _chunking_pays():
        return None
    return _SMALL_GEMM_MNK // small_size


def _inner_chunks(a: Any, b: Any) -> tuple[int, bool] | None:
    """How :meth:`NumpyBackend.inner` chunks ``aᴴb``: ``(rows per chunk, blas)`` for 2-D numpy
    blocks of one dtype and row count with contiguous rows (:func:`_small_kernel_rows`), with
    ``blas`` True when both blocks are C-contiguous (scipy's ``gemm`` on each chunk) and False
    for column slices of wider blocks (numpy's product of each chunk); None where products are
    not chunked."""
    if not (
        type(a) is np.ndarray
        and type(b) is np.ndarray
        and a.ndim == 2
        and b.ndim == 2
        and a.dtype == b.dtype
        and a.shape[0] == b.shape[0]
        and 0 < a.shape[0]
        and a.strides[1] == a.itemsize
        and b.strides[1] == b.itemsize
    ):
        return None
    rows = _small_kernel_rows(a.dtype, a.shape[1] * b.shape[1])
    if rows is None:
        return None
    blas = a.flags.c_contiguous and b.flags.c_contiguous and max(a.size, b.size) < 2**31
    return rows, blas


def _lapack_ready(x: Any, ndim: int) -> bool:
    """True for an ``ndim``-D numpy array of a LAPACK dtype with no zero-length axis (scipy's
    wrappers reject empty arrays)."""
    return type(x) is np.ndarray and x.ndim == ndim and x.dtype.char in _BLAS_TYPES and x.size > 0


def _torch() -> Any:
    """The torch module if it is already imported or importable, else None (never a hard dependency)."""
    mod = sys.modules.get("torch")
    if mod is not None:
        return mod
    try:
        import torch

        return torch
    except ImportError:  # pragma: no cover - torch is optional
        return None


def is_torch_tensor(x: Any) -> bool:
    """True for ``torch.Tensor`` instances, without importing torch when it is not loaded."""
    mod = sys.modules.get("torch")
    return mod is not None and isinstance(x, mod.Tensor)


class Backend:
    """Operations on dense 2-D (and n-D) arrays of one library.  Stateless; compare by ``name``."""

    name: str = "abstract"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Backend) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"<dlra backend {self.name}>"


class NumpyBackend(Backend):
    name = "numpy"

    def asarray(self, x: Any, like: Any = None) -> np.ndarray:
        arr = np.asarray(x)
        if like is not None and arr.dtype != like.dtype:
            arr = arr.astype(np.result_type(arr.dtype, like.dtype), copy=False)
        return arr

    def H(self, x: np.ndarray) -> np.ndarray:
        return x.conj().T if np.iscomplexobj(x) else x.T

    def gram(self, x: np.ndarray) -> np.ndarray:
        """``xᴴ x`` (:meth:`inner` of ``x`` with itself)."""
        return self.inner(x, x)

    def inner(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``aᴴ b`` for tall blocks (n × p, n × q).  Real contiguous blocks with ``p·q ≤ 1024`` go
        to BLAS ``gemm`` in row chunks small enough for OpenBLAS's small-matrix kernels
        (``p·q·rows ≤ 2^18``), accumulating into one small result: numpy sends ``aᵀb`` to one
        ``gemm`` (``aᵀa`` to ``syrk``) over all n rows, which OpenBLAS runs 1.3–4× slower at
        these shapes (n = 2^16, p = q = 16: 2.8 ms against 1.1 ms; Gram 1.7 against 0.8 ms;
        measured 2026-11-24).  Other blocks (complex, where chunks were slower; wider; strided)
        take numpy's product."""
        chunks = _inner_chunks(a, b)
        if chunks is None:
            return self.H(a) @ b
        rows, blas = chunks
        n = a.shape[0]
        if not blas:
            if rows >= n:
                return a.T @ b
            # column slices: numpy's product of each row chunk (BLAS reads the strided rows in
            # place), summed — 1.5–1.8× faster than one product over all rows (2^16–2^18 rows,
            # 16–32 columns, 2026-11-24)
            c = a[:rows].T @ b[:rows]
            part = np.empty_like(c)
            for i in range(rows, n, rows):
                np.matmul(a[i : i + rows].T, b[i : i + rows], out=part)
                c += part
            return c
        if rows >= n and a is not b:  # one product (small: numpy's call is the cheaper)
            return a.T @ b
        gemm = _blas_function("gemm", a.dtype)
        # a[i:j] is C-ordered, so a[i:j].T is a Fortran-ordered p × rows block gemm reads in place
        c = gemm(1.0, a[:rows].T, b[:rows].T, trans_b=1)
        for i in range(rows, n, rows):
            c = gemm(
                1.0, a[i : i + rows].T, b[i : i + rows].T, beta=1.0, c=c, trans_b=1, overwrite_c=1
            )
        return c

    def conj(self, x: np.ndarray) -> np.ndarray:
        return x.conj() if np.iscomplexobj(x) else x

    def is_complex(self, x: Any) -> bool:
        return np.iscomplexobj(x)

    def real_dtype(self, dtype: Any) -> Any:
        return np.finfo(dtype).dtype

    def eps(self, dtype: Any) -> float:
        return float(np.finfo(dtype).eps)

    def is_floating(self, x: Any) -> bool:
        return np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.complexfloating)

    def result_dtype(self, *xs: Any) -> Any:
        return np.result_type(*[x.dtype for x in xs])

    def astype(self, x: np.ndarray, dtype: Any) -> np.ndarray:
        return x if x.dtype == dtype else x.astype(dtype)

    def eye(self, n: int, like: np.ndarray, dtype: Any = None) -> np.ndarray:
        return np.eye(n, dtype=dtype or like.dtype)

    def zeros(self, shape: tuple[int, ...], like: np.ndarray, dtype: Any = None) -> np.ndarray:
        return np.zeros(shape, dtype=dtype or like.dtype)

    def empty(self, shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
        """Uninitialized; for blocks the caller overwrites entirely."""
        return np.empty(shape, dtype=like.dtype)

    def concat(self, xs: list[np.ndarray], axis: int) -> np.ndarray:
        return np.concatenate(xs, axis=axis)

    def diag(self, values: np.ndarray, dtype: Any) -> np.ndarray:
        return np.diag(values).astype(dtype, copy=False)

    def qr(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Thin Householder QR.  Tall blocks (two or more row blocks of ``max(1024, 4p)``) go by
        TSQR: a batched LAPACK QR of the row blocks (each in cache), a QR of their stacked ``R``
        factors, and one batched product for ``Q`` — backward stable and orthonormal to
        round-off like one Householder pass over all rows, and 2–4× faster than it (n = 2^16,
        p = 16–32: 10–34 ms against 28–69 ms; 2^20 × 16: 0.2 s against 0.9 s; one thread,
        measured 2026-11-24).  ``R`` is unique up to a unitary diagonal; signs may differ from
        ``numpy.linalg.qr``."""
        blocks, rows = _tsqr_blocks(x)
        if blocks < 2:
            return np.linalg.qr(x, mode="reduced")
        n, p = x.shape
        split = blocks * rows
        q_blocks, r_blocks = np.linalg.qr(x[:split].reshape(blocks, rows, p))
        q_top, r = np.linalg.qr(_stack_factors(r_blocks, x[split:]))
        q = np.empty((n, p), dtype=q_top.dtype)
        np.matmul(
            q_blocks,
            q_top[: blocks * p].reshape(blocks, p, p),
            out=q[:split].reshape(blocks, rows, p),
        )
        q[split:] = q_top[blocks * p :]  # the remainder rows entered the second QR as they are
        return q, r

    def qr_r(self, x: np.ndarray) -> np.ndarray:
        """The triangular factor ``R`` of a thin QR of ``x`` (``Q`` never formed): TSQR on tall
        blocks as in :meth:`qr` (2.4–4.7× faster than numpy's ``mode="r"``, n = 2^16–2^20,
        p = 16–32), singular values of ``R`` equal to those of ``x`` to round-off."""
        blocks, rows = _tsqr_blocks(x)
        if blocks < 2:
            return np.linalg.qr(x, mode="r")
        p = x.shape[1]
        r_blocks = np.linalg.qr(x[: blocks * rows].reshape(blocks, rows, p), mode="r")
        return np.linalg.qr(_stack_factors(r_blocks, x[blocks * rows :]), mode="r")

    def svd(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Thin SVD ``x = P diag(s) Qh`` by LAPACK ``gesdd``, called directly on 2-D blocks of a
        LAPACK dtype (numpy's wrapper adds 10–20% on the small cores a step factors); falls
        back to numpy, then to the slower, more robust driver ``gesvd``, when it does not converge.
        Non-finite input gives NaN factors (as the products give NaN), never an exception: the
        caller's finiteness check reports it (``dlra.solve``: ``status=1``)."""
        if not np.isfinite(x).all():
            return _nan_svd(self, x)
        if _lapack_ready(x, 2):
            p, s, qh, info = lapack_function("gesdd", x.dtype)(x, compute_uv=1, full_matrices=0)
            if info == 0:
                return p, s, qh
        try:
            return np.linalg.svd(x, full_matrices=False)
        except np.linalg.LinAlgError:
            import scipy.linalg

            return scipy.linalg.svd(x, full_matrices=False, lapack_driver="gesvd")

    def cholesky_upper(self, g: np.ndarray) -> np.ndarray | None:
        """Upper-triangular R with ``g = Rᴴ R``, or None if ``g`` is not numerically positive
        definite.  LAPACK ``potrf`` on the upper triangle of the Hermitian ``g``, called directly
        (numpy's wrapper costs twice the factorization on the small Gram matrices of a step)."""
        if _lapack_ready(g, 2) and g.shape[0] == g.shape[1]:
            r, info = lapack_function("potrf", g.dtype)(g, lower=0, clean=1)
            return r if info == 0 else None
        try:
            low = np.linalg.cholesky(g)
        except np.linalg.LinAlgError:
            return None
        return self.H(low)

    def solve_triangular_right(self, x: np.ndarray, r: np.ndarray) -> np.ndarray:
        """``x R⁻¹`` for upper-triangular R."""
        import scipy.linalg

        return scipy.linalg.solve_triangular(r, x.T, trans="T", lower=False).T

    def norm(self, x: Any) -> float:
        """Frobenius norm; a contiguous block of a BLAS dtype by one ``vdot`` of the flat array
        (what ``numpy.linalg.norm`` computes, without its dispatch)."""
        if type(x) is np.ndarray and x.dtype.char in _BLAS_TYPES and x.flags.c_contiguous:
            flat = x.reshape(-1)
            return math.sqrt(float(np.vdot(flat, flat).real))
        return float(np.linalg.norm(x))

    def all_finite(self, x: Any) -> bool:
        return bool(np.isfinite(x).all())

    def matrix_exp(self, x: np.ndarray) -> np.ndarray:
        import scipy.linalg

        return scipy.linalg.expm(x)

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x)

    def from_numpy(self, x: np.ndarray, like: Any) -> np.ndarray:
        return np.asarray(x, dtype=like.dtype)

    def device(self, x: Any) -> str:
        return "cpu"

    def shape(self, x: Any) -> tuple[int, ...]:
        return tuple(x.shape)

    def copy(self, x: np.ndarray) -> np.ndarray:
        return x.copy()

    def add_scaled_(self, y: np.ndarray, x: np.ndarray, a: Any = 1.0) -> None:
        """``y += a·x`` in place: BLAS ``axpy`` on contiguous blocks of one dtype (no temporary,
        one pass; 1.4–4× faster than numpy's two), otherwise temporaries of one row chunk
        (:func:`row_chunks`) at most."""
        if a == 1:
            y += x
            return
        if _blas_ready(y, a, x):
            y_flat = y.reshape(-1)
            out = _blas_function("axpy", y.dtype)(x.reshape(-1), y_flat, a=a)
            if not np.may_share_memory(out, y):  # the wrapper worked on a copy
                y_flat[...] = out
            return
        for i, j in row_chunks(y.shape[0]):
            y[i:j] += a * x[i:j]

    def scaled_adder(self, *blocks: Any) -> Callable[[Any, Any, Any], None]:
        """A function ``add(y, x, a)``: ``y += a·x`` for ``y``, ``x`` among ``blocks``, the caller's
        own working blocks (no two overlap).  When they are all C-contiguous blocks of one BLAS
        dtype, the checks of :meth:`add_scaled_` are made once here and ``add`` calls BLAS
        ``axpy`` directly (Python scalars only; anything else goes to :meth:`add_scaled_`)."""
        first = blocks[0]
        dtype = first.dtype
        ready = (
            dtype.char in _BLAS_TYPES
            and 0 < first.size < 2**31
            and all(
                type(b) is np.ndarray
                and b.ndim == 2
                and b.dtype == dtype
                and b.shape == first.shape
                and b.flags.c_contiguous
                and b.flags.writeable
                for b in blocks
            )
            and not any(
                np.may_share_memory(a, b) for i, a in enumerate(blocks) for b in blocks[i + 1 :]
            )
        )
        if not ready:
            return self.add_scaled_
        axpy = _blas_function("axpy", dtype)
        complex_ok = dtype.kind == "c"
        add_scaled_ = self.add_scaled_

        def add(y: np.ndarray, x: np.ndarray, a: Any) -> None:
            kind = type(a)
            if a != 1 and (kind is float or (kind is complex and complex_ok)):
                axpy(x.reshape(-1), y.reshape(-1), a=a)  # contiguous y: updated in place
            else:
                add_scaled_(y, x, a)

        return add

    def add_product_(
        self, y: np.ndarray, left: np.ndarray, small: np.ndarray, a: Any = 1.0
    ) -> None:
        """``y += a·(left @ small)`` in place for a tall ``left``: BLAS ``gemm`` accumulating into
        ``y`` on contiguous blocks of one dtype (no product temporary, no pass to add it),
        otherwise temporaries of one row chunk."""
        if _blas_ready(y, a, left) and not np.may_share_memory(small, y):
            # y is C-ordered: yᵀ (Fortran-ordered, the same memory) += a · smallᵀ leftᵀ, in row
            # chunks sized for OpenBLAS's small-matrix kernels where that applies (see `inner`:
            # 1.1–2× faster for tall blocks of ≤ 32 columns)
            m = small.astype(y.dtype, copy=False)
            gemm = _blas_function("gemm", y.dtype)
            n = y.shape[0]
            rows = _small_kernel_rows(y.dtype, m.size) or n
            mt = m.T
            for i in range(0, n, rows):
                part = y[i : i + rows]
                out = gemm(a, mt, left[i : i + rows].T, beta=1.0, c=part.T, overwrite_c=True)
                if not np.may_share_memory(out, part):  # the wrapper worked on a copy
                    part[...] = out.T
            return
        m = small if a == 1 else small * a
        for i, j in row_chunks(y.shape[0]):
            y[i:j] += left[i:j] @ m

    def set_product_(self, y: np.ndarray, left: np.ndarray, small: np.ndarray) -> None:
        """``y ← left @ small`` in place, row chunk by row chunk; ``y`` may be columns of ``left``
        (each chunk's product is complete before it is written).  One chunk-sized temporary,
        reused."""
        chunks = row_chunks(y.shape[0])
        apart = not np.may_share_memory(y, left) and not np.may_share_memory(y, small)
        if len(chunks) == 1 and apart:
            np.matmul(left, small, out=y)  # one chunk: numpy's own buffer is no larger
            return
        rows = _small_kernel_rows(y.dtype, small.size)
        if rows is not None:
            # chunks sized for OpenBLAS's small-matrix kernels (see `inner`), never larger than
            # the row chunks (the temporary stays within one of those)
            size = min(rows, chunks[0][1] - chunks[0][0])
            n = y.shape[0]
            chunks = tuple((i, min(i + size, n)) for i in range(0, n, size))
            if apart:
                # straight into y (columns of a wider block: BLAS writes the strided rows in
                # place): 1.5× faster than through the temporary at 2^16 × 16
                for i, j in chunks:
                    np.matmul(left[i:j], small, out=y[i:j])
                return
        tmp = np.empty((chunks[0][1] - chunks[0][0], y.shape[1]), dtype=y.dtype)
        for i, j in chunks:
            part = tmp[: j - i]
            np.matmul(left[i:j], small, out=part)
            y[i:j] = part

    def tensordot(self, a: np.ndarray, b: np.ndarray, axes: Any) -> np.ndarray:
        return np.tensordot(a, b, axes=axes)

    def moveaxis(self, x: np.ndarray, src: int, dst: int) -> np.ndarray:
        return np.moveaxis(x, src, dst)

    def reshape(self, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return np.reshape(x, shape)

    def abs_max(self, x: Any) -> float:
        return float(np.max(np.abs(x))) if x.size else 0.0


def _nan_svd(be: Backend, x: Any) -> tuple[Any, Any, Any]:
    """The thin SVD's shapes filled with NaN: what an SVD of non-finite input returns."""
    m, n = be.shape(x)
    k = min(m, n)
    nan = float("nan")
    real = be.zeros((k,), like=x, dtype=be.real_dtype(x.dtype))
    return be.zeros((m, k), like=x) + nan, real + nan, be.zeros((k, n), like=x) + nan


class TorchBackend(Backend):
    name = "torch"

    def __init__(self) -> None:
        self.torch = _torch()

    def asarray(self, x: Any, like: Any = None) -> Any:
        t = self.torch
        if isinstance(x, t.Tensor):
            out = x
        else:
            out = t.as_tensor(np.asarray(x))
        if like is not None:
            dtype = t.promote_types(out.dtype, like.dtype)
            out = out.to(device=like.device, dtype=dtype)
        return out

    def H(self, x: Any) -> Any:
        return x.mH

    def conj(self, x: Any) -> Any:
        return x.conj().resolve_conj() if x.is_complex() else x

    def is_complex(self, x: Any) -> bool:
        return bool(x.is_complex())

    def real_dtype(self, dtype: Any) -> Any:
        return self.torch.empty((), dtype=dtype).real.dtype

    def eps(self, dtype: Any) -> float:
        return float(self.torch.finfo(dtype).eps)

    def is_floating(self, x: Any) -> bool:
        return bool(x.is_floating_point() or x.is_complex())

    def result_dtype(self, *xs: Any) -> Any:
        dtype = xs[0].dtype
        for x in xs[1:]:
            dtype = self.torch.promote_types(dtype, x.dtype)
        return dtype

    def astype(self, x: Any, dtype: Any) -> Any:
        return x if x.dtype == dtype else x.to(dtype)

    def eye(self, n: int, like: Any, dtype: Any = None) -> Any:
        return self.torch.eye(n, dtype=dtype or like.dtype, device=like.device)

    def zeros(self, shape: tuple[int, ...], like: Any, dtype: Any = None) -> Any:
        return self.torch.zeros(shape, dtype=dtype or like.dtype, device=like.device)

    def empty(self, shape: tuple[int, ...], like: Any) -> Any:
        """Uninitialized; for blocks the caller overwrites entirely."""
        return self.torch.empty(shape, dtype=like.dtype, device=like.device)

    def concat(self, xs: list[Any], axis: int) -> Any:
        return self.torch.cat(xs, dim=axis)

    def diag(self, values: Any, dtype: Any) -> Any:
        return self.torch.diag(values).to(dtype)

    def qr(self, x: Any) -> tuple[Any, Any]:
        return self.torch.linalg.qr(x, mode="reduced")

    def qr_r(self, x: Any) -> Any:
        """The triangular factor ``R`` of a thin QR of ``x`` (``Q`` not formed unless ``x`` tracks
        gradients: the backward of ``R`` needs it)."""
        return self.torch.linalg.qr(x, mode="reduced" if x.requires_grad else "r")[1]

    def svd(self, x: Any) -> tuple[Any, Any, Any]:
        t = self.torch
        try:
            return t.linalg.svd(x, full_matrices=False)
        except RuntimeError:
            if not bool(t.isfinite(x).all()):  # NaN factors, as on numpy (no exception)
                return _nan_svd(self, x)
            # gesvdj/gesdd can fail to converge on CUDA for badly scaled input: retry on the CPU.
            p, s, qh = t.linalg.svd(x.cpu(), full_matrices=False)
            return p.to(x.device), s.to(x.device), qh.to(x.device)

    def cholesky_upper(self, g: Any) -> Any | None:
        low, info = self.torch.linalg.cholesky_ex(g)
        if int(info) != 0:
            return None
        return low.mH

    def solve_triangular_right(self, x: Any, r: Any) -> Any:
        return self.torch.linalg.solve_triangular(r, x, upper=True, left=False)

    def norm(self, x: Any) -> float:
        return float(self.torch.linalg.vector_norm(x))

    def all_finite(self, x: Any) -> bool:
        return bool(self.torch.isfinite(x).all())

    def matrix_exp(self, x: Any) -> Any:
        return self.torch.linalg.matrix_exp(x)

    def to_numpy(self, x: Any) -> np.ndarray:
        return x.detach().cpu().resolve_conj().numpy()

    def from_numpy(self, x: np.ndarray, like: Any) -> Any:
        return self.torch.as_tensor(x, dtype=like.dtype, device=like.device)

    def device(self, x: Any) -> str:
        return str(x.device)

    def shape(self, x: Any) -> tuple[int, ...]:
        return tuple(x.shape)

    def copy(self, x: Any) -> Any:
        return x.clone()

    def add_scaled_(self, y: Any, x: Any, a: Any = 1.0) -> None:
        """``y += a·x`` in place (no temporary)."""
        y.add_(x, alpha=a)

    def scaled_adder(self, *blocks: Any) -> Callable[[Any, Any, Any], None]:
        """``add(y, x, a)``: ``y += a·x`` (:meth:`add_scaled_`; nothing to check once on torch)."""
        return self.add_scaled_

    def gram(self, x: Any) -> Any:
        """``xᴴ x``."""
        return self.H(x) @ x

    def inner(self, a: Any, b: Any) -> Any:
        """``aᴴ b``."""
        return self.H(a) @ b

    def add_product_(self, y: Any, left: Any, small: Any, a: Any = 1.0) -> None:
        """``y += a·(left @ small)`` in place (``addmm_``, no temporary)."""
        y.addmm_(left, small, alpha=a)

    def set_product_(self, y: Any, left: Any, small: Any) -> None:
        """``y ← left @ small`` in place, row chunk by row chunk; ``y`` may be columns of ``left``."""
        for i, j in row_chunks(y.shape[0]):
            y[i:j] = left[i:j] @ small

    def tensordot(self, a: Any, b: Any, axes: Any) -> Any:
        return self.torch.tensordot(a, b, dims=axes)

    def moveaxis(self, x: Any, src: int, dst: int) -> Any:
        return self.torch.movedim(x, src, dst)

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        return x.reshape(shape)

    def abs_max(self, x: Any) -> float:
        return float(x.abs().max()) if x.numel() else 0.0


NUMPY = NumpyBackend()
_TORCH: TorchBackend | None = None


def _torch_backend() -> TorchBackend:
    global _TORCH
    if _TORCH is None:
        _TORCH = TorchBackend()
    return _TORCH


def _kind(x: Any) -> str | None:
    if x is None or isinstance(x, (int, float, complex)):
        return None
    if is_torch_tensor(x):
        return "torch"
    if isinstance(x, np.ndarray) or np.isscalar(x):
        return "numpy"
    mod = type(x).__module__
    if mod.startswith("scipy."):
        return "numpy"
    return None


def backend_of(*arrays: Any, names: tuple[str, ...] | None = None) -> Backend:
    """The backend of the given arrays.

    Raises ``TypeError`` naming the arguments when numpy and torch arrays are mixed.
    ``names`` (same length as ``arrays``) is used for the message only.
    """
    if len(arrays) == 1 and type(arrays[0]) is np.ndarray:  # the common call, without the loop
        return NUMPY
    kinds: dict[str, str] = {}
    for i, x in enumerate(arrays):
        k = _kind(x)
        if k is not None:
            label = names[i] if names else f"argument {i}"
            kinds.setdefault(k, label)
    if len(kinds) > 1:
        raise TypeError(
            "mixed array backends: "
            + ", ".join(f"{label} is a {k} array" for k, label in kinds.items())
            + "; pass all arrays from one library (convert with numpy.asarray or torch.as_tensor)"
        )
    if "torch" in kinds:
        return _torch_backend()
    return NUMPY
