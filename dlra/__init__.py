"""dlra: dynamical low-rank approximation integrators for matrix and Tucker-tensor ODEs.

The same code runs on numpy and torch arrays (CPU and CUDA), real and complex, float32 and
float64, chosen by the arrays passed in.  See ``docs/`` for the API and for choosing an integrator.
"""

from .linalg import RankControl, augment_basis, orthonormalize, truncate, truncation_rank
from .lowrank import LowRankMatrix

__version__ = "0.1.0"

__all__ = [
    "LowRankMatrix",
    "RankControl",
    "__version__",
    "augment_basis",
    "orthonormalize",
    "truncate",
    "truncation_rank",
]
