"""dlra: dynamical low-rank approximation integrators for matrix and Tucker-tensor ODEs.

The same code runs on numpy and torch arrays (CPU and CUDA), real and complex, float32 and
float64, chosen by the arrays passed in.  See ``docs/`` for the API and for choosing an integrator.
"""

from . import integrators
from .fields import CallableField, DataField, Field, Flow, LinearField
from .integrators import Counters, Integrator, get_integrator, registry
from .linalg import RankControl, augment_basis, orthonormalize, truncate, truncation_rank
from .lowrank import LowRankMatrix
from .solver import IntegrationError, Solution, solve
from .substeps import RK4, Euler, Exact, LowStorageRK4, SubstepSolver
from .tucker import TuckerField, TuckerTensor

__version__ = "0.1.0"

#: matrix integrators by method name (``dlra.solve(..., method=name)``)
INTEGRATORS = registry("matrix")

__all__ = [
    "INTEGRATORS",
    "RK4",
    "CallableField",
    "Counters",
    "DataField",
    "Euler",
    "Exact",
    "Field",
    "Flow",
    "IntegrationError",
    "Integrator",
    "LinearField",
    "LowRankMatrix",
    "LowStorageRK4",
    "RankControl",
    "Solution",
    "SubstepSolver",
    "TuckerField",
    "TuckerTensor",
    "__version__",
    "augment_basis",
    "get_integrator",
    "integrators",
    "orthonormalize",
    "registry",
    "solve",
    "truncate",
    "truncation_rank",
]
