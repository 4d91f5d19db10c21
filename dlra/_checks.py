"""Boundary validation shared by the public entry points: messages name the argument."""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._backend import Backend, backend_of, is_torch_tensor


def is_integer(x: Any) -> bool:
    """True for Python and numpy integers (``numbers.Integral``), False for bools."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def require_matrix(x: Any, name: str) -> Backend:
    """Check that ``x`` is a 2-D floating array of numpy or torch; return its backend."""
    be = backend_of(x, names=(name,))
    if not (isinstance(x, np.ndarray) or is_torch_tensor(x)):
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")
    require_plain_dense(x, name)
    if len(be.shape(x)) != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {tuple(be.shape(x))}")
    require_float_dtype(x, name, be)
    return be


def require_plain_dense(x: Any, name: str) -> None:
    """Refuse the array types whose arithmetic differs from a plain array's: ``numpy.matrix``
    (``*`` multiplies matrices), masked arrays (masks are ignored by BLAS) and sparse torch
    layouts."""
    if isinstance(x, (np.matrix, np.ma.MaskedArray)):
        raise TypeError(
            f"{name} must be a plain numpy array, got {type(x).__name__} (convert with "
            "numpy.asarray; fill masked entries first)"
        )
    layout = getattr(x, "layout", None)
    if layout is not None and str(layout) != "torch.strided":
        raise TypeError(f"{name} must be a dense torch tensor, got layout {layout} (.to_dense())")


def require_float_dtype(x: Any, name: str, be: Backend) -> None:
    """``x`` has a dtype the linear algebra supports: float32/64 or complex64/128."""
    if not be.is_floating(x):
        raise TypeError(f"{name} must have a floating or complex dtype, got {x.dtype}")
    if be.eps(x.dtype) > 1e-6:  # float16, bfloat16: no LAPACK kernels for them
        raise TypeError(
            f"{name} has dtype {x.dtype}, which the linear algebra does not support; "
            "use float32 or float64 (complex64 or complex128)"
        )


def require_dense_like(x: Any, be: Backend, shape: tuple[int, ...], name: str) -> None:
    """``x`` is a dense array of the library of ``be`` and exactly of ``shape`` (no broadcasting:
    a difference with a scalar or a row would be silently wrong)."""
    if not (isinstance(x, np.ndarray) or is_torch_tensor(x)):
        raise TypeError(
            f"{name} must be a dense array or a low-rank object of the same kind, "
            f"got {type(x).__name__}"
        )
    require_plain_dense(x, name)
    other = backend_of(x)
    if other != be:
        raise TypeError(f"{name} is a {other.name} array but this object is {be.name}")
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(x.shape)}, expected {tuple(shape)}")


def require_finite(x: Any, name: str, be: Backend) -> None:
    if not be.all_finite(x):
        raise ValueError(f"{name} contains NaN or Inf")


def orthonormality_defect(x: Any, be: Backend) -> float:
    """``‖XᴴX − I‖_F``."""
    k = be.shape(x)[1]
    return be.norm(be.H(x) @ x - be.eye(k, like=x))


def orthonormality_tolerance(x: Any, be: Backend) -> float:
    """Admissible ``‖XᴴX − I‖_F`` for factors given by users: generous multiple of round-off."""
    n, k = be.shape(x)
    return 1e3 * be.eps(x.dtype) * math.sqrt(max(k, 1)) * max(1.0, math.log2(max(n, 2)))


def require_orthonormal(
    x: Any, name: str, be: Backend, *, builder: str = "LowRankMatrix.from_dense"
) -> None:
    """``x`` has orthonormal columns up to a generous multiple of round-off; the message names
    ``builder``, the constructor that makes such factors from a dense array."""
    defect = orthonormality_defect(x, be)
    tol = orthonormality_tolerance(x, be)
    if not defect <= tol:
        raise ValueError(
            f"{name} must have orthonormal columns: ‖{name}ᴴ{name} − I‖_F = {defect:.3g} "
            f"exceeds {tol:.1g}; orthonormalize it (e.g. with a QR factorization) or build the "
            f"state with {builder}"
        )


def is_real(x: Any) -> bool:
    """A real number: Python, numpy, ``Decimal``/``Fraction`` reals and 0-d real arrays or
    tensors; not bools, complex numbers (of any library) or strings (``float("1e-3")`` would
    parse, but a number given as text is a mistake to report)."""
    if isinstance(x, (bool, str, bytes)):
        return False
    if isinstance(x, numbers.Complex) and not isinstance(x, numbers.Real):
        return False
    is_complex = getattr(x, "is_complex", None)  # torch tensors
    if callable(is_complex) and is_complex():
        return False
    if getattr(getattr(x, "dtype", None), "kind", "") == "c":  # numpy arrays
        return False
    try:
        float(x)
    except (TypeError, ValueError):
        return False
    return True


def require_bool(value: Any, name: str) -> None:
    """``value`` is ``True`` or ``False`` (a string such as ``"no"`` would count as true)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def require_positive_number(value: Any, name: str, *, allow_zero: bool = False) -> float:
    if not (isinstance(value, bool) or is_real(value)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if isinstance(value, bool) or math.isnan(v) or math.isinf(v):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if v < 0 or (v == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return v


def unknown_name_error(kind: str, name: Any, known: Iterable[str]) -> Exception:
    """``ValueError`` (``TypeError`` for options) listing the known names and the closest match."""
    known = sorted(known)
    text = str(name)
    # a misspelling (close match) first, then a known abbreviation ("tol" for "tolerance"),
    # then any match
    close = difflib.get_close_matches(text, known, n=1, cutoff=0.8)
    close = close or [k for k in known if len(k) >= 3 and text.lower().startswith(k.lower())][-1:]
    close = close or difflib.get_close_matches(text, known, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    message = f"unknown {kind} {name!r}{hint} Known: {', '.join(known)}"
    return TypeError(message) if kind == "option" else ValueError(message)
