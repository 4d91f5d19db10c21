"""Preparing a Tucker initial state and field for :func:`dlra.solve` (dtype, requested ranks)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..linalg import pad_basis
from .fields import TuckerField, as_tucker_field
from .modes import pad
from .tensor import TuckerTensor
from .truncation import TuckerRankControl, sthosvd

__all__ = ["admissible_clamp", "pad_ranks", "prepare_field", "prepare_state"]


def admissible_clamp(ranks: Sequence[int]) -> tuple[int, ...]:
    """The largest ranks ≤ ``ranks`` with ``rᵢ ≤ Π_{j≠i} rⱼ`` (reducing the largest first)."""
    out = [int(r) for r in ranks]
    changed = True
    while changed:
        changed = False
        total = math.prod(out)
        for i, r in enumerate(out):
            others = total // r
            if r > others:
                out[i] = others
                changed = True
                break
    return tuple(out)


def pad_ranks(Y: TuckerTensor, ranks: Sequence[int]) -> TuckerTensor:
    """``Y`` with ranks raised to ``ranks`` (≥ ``Y.ranks``): extra orthonormal directions with zero
    weight in the core (deterministic pseudo-random directions)."""
    rng = np.random.default_rng(0)
    factors = [pad_basis(U, r_new, rng) for U, r_new in zip(Y.factors, ranks)]
    return TuckerTensor(pad(Y.core, ranks), factors, check=False)


def _complex_dtype(Y: TuckerTensor) -> Any:
    be = Y.backend
    name = str(Y.dtype).replace("torch.", "")
    target = {"float32": "complex64", "float64": "complex128"}.get(name, "complex128")
    if be.name == "torch":
        import torch

        return getattr(torch, target)
    return target


def prepare_state(
    Y0: TuckerTensor, rank: int | Sequence[int] | None, complex_field: bool
) -> TuckerTensor:
    """``Y0`` cast to complex for complex fields and brought to ``rank`` (int or one per mode):
    padded with zero-weight directions where the rank grows, truncated (ST-HOSVD) where it shrinks."""
    if not isinstance(Y0, TuckerTensor):
        raise TypeError(f"Y0 must be a TuckerTensor, got {type(Y0).__name__}")
    be = Y0.backend
    if complex_field and not be.is_complex(Y0.core):
        Y0 = Y0.astype(_complex_dtype(Y0))
    if rank is None:
        return Y0
    d = Y0.ndim
    target = TuckerRankControl.build(d, rank=rank).ranks
    assert target is not None
    for i, (r, n) in enumerate(zip(target, Y0.shape)):
        if r > n:
            raise ValueError(f"rank[{i}] = {r} exceeds the size {n} of mode {i} of Y0 {Y0.shape}")
    if admissible_clamp(target) != target:
        raise ValueError(f"inadmissible rank {target}: need r_i ≤ Π_(j≠i) r_j for every mode")
    lower = tuple(min(a, b) for a, b in zip(target, Y0.ranks))
    if lower != Y0.ranks:
        core, factors, _ = sthosvd(Y0.core, Y0.factors, TuckerRankControl(ranks=lower))
        Y0 = TuckerTensor(core, factors, check=False)
    if tuple(Y0.ranks) != target:
        Y0 = pad_ranks(Y0, target)
    return Y0


def prepare_field(F: Any, Y0: TuckerTensor, t0: float) -> TuckerField:
    """The :class:`~dlra.tucker.TuckerField` for ``F``, validated against ``Y0`` at ``t0``."""
    field = as_tucker_field(F)
    field.validate(float(t0), Y0)
    return field
