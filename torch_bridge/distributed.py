"""Distributed data-parallel training of factored models.

Factor parameters change shape when a rank changes, which ``DistributedDataParallel``'s gradient
buckets (built once, at construction) cannot follow.  So DDP is told to ignore the factors
(:func:`prepare_ddp` / :func:`wrap_ddp`) and the optimizers of :mod:`torch_bridge.optim`
synchronize them themselves: they average the factor gradients over the processes (one
all-reduce of one flat buffer per evaluation), take the rank decisions of process 0 (one
broadcast of the rank vector) and broadcast the new factors and their optimizer state from
process 0 after each step, so every process holds identical factors and ranks.  Every other
parameter is left to DDP as usual.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._base import FactoredModule

__all__ = ["factor_parameter_names", "is_distributed", "prepare_ddp", "wrap_ddp"]


def is_distributed(process_group: Any = None) -> bool:
    """True when ``torch.distributed`` is initialized with more than one process."""
    dist = torch.distributed
    return dist.is_available() and dist.is_initialized() and dist.get_world_size(process_group) > 1


def factor_parameter_names(model: nn.Module) -> list[str]:
    """Fully qualified names of every factor parameter of ``model`` (what DDP must ignore)."""
    names = []
    for prefix, module in model.named_modules():
        if isinstance(module, FactoredModule):
            names.extend(f"{prefix}.{n}" if prefix else n for n in module.factor_names)
    return names


def prepare_ddp(model: nn.Module, *, src: int = 0, process_group: Any = None) -> nn.Module:
    """Mark the factors of ``model`` as ignored by DDP and make them equal on every process
    (broadcast from ``src``, with their current ranks).  Call before wrapping ``model`` in
    ``DistributedDataParallel``; returns ``model``."""
    names = factor_parameter_names(model)
    previous = list(getattr(model, "_ddp_params_and_buffers_to_ignore", []))
    torch.nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
        model, sorted(set(previous) | set(names))
    )
    if is_distributed(process_group):
        modules = [m for m in model.modules() if isinstance(m, FactoredModule)]
        broadcast_shapes_and_values(modules, src=src, process_group=process_group)
    return model


def wrap_ddp(model: nn.Module, **ddp_kwargs: Any) -> nn.Module:
    """``DistributedDataParallel(prepare_ddp(model), **ddp_kwargs)``.

    When every trainable parameter is a factor (a model of factored layers without biases, or
    the adapters of :func:`~torch_bridge.get_dlra_model` on a frozen base model), DDP would have
    nothing to synchronize and refuses to wrap: the prepared model itself is returned, and the
    optimizers of :mod:`torch_bridge.optim` synchronize the factors as always."""
    model = prepare_ddp(model)
    ignored = set(getattr(model, "_ddp_params_and_buffers_to_ignore", []))
    if not any(p.requires_grad for n, p in model.named_parameters() if n not in ignored):
        return model
    return torch.nn.parallel.DistributedDataParallel(model, **ddp_kwargs)


# --------------------------------------------------------------------------------------------
# collectives on lists of tensors (one flat buffer each)
# --------------------------------------------------------------------------------------------


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _unflat_into(buffer: torch.Tensor, tensors: list[torch.Tensor]) -> None:
    offset = 0
    for t in tensors:
        n = t.numel()
        t.copy_(buffer[offset : offset + n].view_as(t))
        offset += n


def all_reduce_mean(tensors: list[torch.Tensor], process_group: Any = None) -> None:
    """Average ``tensors`` in place over the processes (one all-reduce per dtype)."""
    dist = torch.distributed
    world = dist.get_world_size(process_group)
    by_dtype: dict[Any, list[torch.Tensor]] = {}
    for t in tensors:
        by_dtype.setdefault((t.dtype, t.device), []).append(t)
    for group in by_dtype.values():
        buffer = _flat(group)
        dist.all_reduce(buffer, group=process_group)
        buffer /= world
        _unflat_into(buffer, group)


def broadcast_(tensors: list[torch.Tensor], src: int = 0, process_group: Any = None) -> None:
    """Overwrite ``tensors`` in place with those of process ``src`` (shapes must agree)."""
    dist = torch.distributed
    by_dtype: dict[Any, list[torch.Tensor]] = {}
    for t in tensors:
        by_dtype.setdefault((t.dtype, t.device), []).append(t)
    for group in by_dtype.values():
        buffer = _flat(group)
        dist.broadcast(buffer, src=src, group=process_group)
        _unflat_into(buffer, group)


def broadcast_ints(
    values: list[int], like: torch.Tensor, src: int = 0, process_group: Any = None
) -> list[int]:
    """The integer list of process ``src`` (same length on every process)."""
    t = torch.tensor(values, dtype=torch.int64, device=like.device)
    torch.distributed.broadcast(t, src=src, group=process_group)
    return [int(v) for v in t.tolist()]


def broadcast_shapes_and_values(
    modules: list[FactoredModule], src: int = 0, process_group: Any = None
) -> None:
    """Give every process the factors of process ``src``, resizing where ranks differ."""
    if not modules:
        return
    dims = [d for m in modules for name in m.factor_names for d in getattr(m, name).shape]
    like = getattr(modules[0], modules[0].factor_names[0])
    dims = broadcast_ints(dims, like, src, process_group)
    k = 0
    for m in modules:
        resized = {}
        for name in m.factor_names:
            p = getattr(m, name)
            shape = tuple(dims[k : k + p.dim()])
            k += p.dim()
            if tuple(p.shape) != shape:
                resized[name] = torch.zeros(shape, dtype=p.dtype, device=p.device)
        if resized:
            m.set_factors(**resized)
    with torch.no_grad():
        broadcast_([p for m in modules for p in m.factor_parameters()], src, process_group)
