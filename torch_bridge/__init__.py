"""torch_bridge: train and fine-tune low-rank networks with the integrators of :mod:`dlra`.

Layers whose weights live on the low-rank manifold (parameters allocated for the current rank),
``torch.optim`` optimizers that integrate the gradient flow on it with rank adaptivity (DLRT,
GeoLoRA, fixed-rank and robust variants), peft-style low-rank adapters, and distributed data
parallel support.  See ``docs/torch_bridge.md``.
"""

from .adapters import DLRAConfig, DLRAModel, LowRankAdapter, get_dlra_model
from .baselines import FactorizedLinear
from .distributed import prepare_ddp, wrap_ddp
from .layers import LowRankConv2d, LowRankLinear
from .optim import (
    DLRT,
    AugmentedBUG,
    FixedRankAugmentedBUG,
    FixedRankParallelBUG,
    GeoLoRA,
    ParallelBUG,
)
from .tucker import TuckerConv2d
from .utils import count_parameters, factored_modules, optimizer_state_size, ranks

__all__ = [
    "DLRT",
    "AugmentedBUG",
    "DLRAConfig",
    "DLRAModel",
    "FactorizedLinear",
    "FixedRankAugmentedBUG",
    "FixedRankParallelBUG",
    "GeoLoRA",
    "LowRankAdapter",
    "LowRankConv2d",
    "LowRankLinear",
    "ParallelBUG",
    "TuckerConv2d",
    "count_parameters",
    "factored_modules",
    "get_dlra_model",
    "optimizer_state_size",
    "prepare_ddp",
    "ranks",
    "wrap_ddp",
]
