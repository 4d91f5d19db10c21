"""The matrix integrators, one per module, registered by name for :func:`dlra.solve`."""

from .adaptive_bug import AdaptiveBUG
from .augmented_bug import AugmentedBUG
from .base import Counters, Integrator, get_integrator, register, registry
from .bug import BUG
from .ksl import KSL
from .midpoint_bug import MidpointBUG
from .parallel_bug import ParallelBUG
from .parallel_bug2 import ParallelBUG2
from .strang import Strang

__all__ = [
    "BUG",
    "KSL",
    "AdaptiveBUG",
    "AugmentedBUG",
    "Counters",
    "Integrator",
    "MidpointBUG",
    "ParallelBUG",
    "ParallelBUG2",
    "Strang",
    "get_integrator",
    "register",
    "registry",
]
