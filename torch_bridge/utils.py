"""Inspection helpers: ranks, parameter counts and optimizer-state sizes of a model."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._base import FactoredModule

__all__ = ["count_parameters", "factored_modules", "optimizer_state_size", "ranks"]


def factored_modules(model: nn.Module) -> dict[str, FactoredModule]:
    """The factored modules of ``model`` by qualified name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, FactoredModule)}


def ranks(model: nn.Module) -> dict[str, Any]:
    """Current rank of every factored module: an int (``U S Vᵀ``) or a tuple (Tucker)."""
    out: dict[str, Any] = {}
    for name, m in factored_modules(model).items():
        out[name] = m.rank if m.kind == "matrix" else tuple(m.ranks)  # type: ignore[attr-defined]
    return out


def count_parameters(model: nn.Module) -> dict[str, int]:
    """``{"allocated": …, "trainable": …}``: entries of all parameters, and of those with
    ``requires_grad``.  The factored modules allocate only their current rank, so for them
    allocated = active."""
    allocated = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"allocated": allocated, "trainable": trainable}


def optimizer_state_size(optimizer: torch.optim.Optimizer) -> int:
    """Number of tensor entries held in ``optimizer.state`` (moments, momentum buffers, …;
    scalar step counters excluded)."""
    total = 0
    for st in optimizer.state.values():
        for v in st.values():
            if torch.is_tensor(v) and v.dim() > 0:
                total += v.numel()
    return total
