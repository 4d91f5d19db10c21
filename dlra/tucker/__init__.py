"""Tucker tensors ``Y = C ×₁ U₁ ×₂ ⋯ ×_d U_d`` and their DLRA integrators.

``TuckerTensor`` is the state; fields are the same objects as for matrices (``DataField``,
``LinearField`` with d-tuples of operators, plain callables) or :class:`TuckerField` subclasses;
the integrators are registered under the matrix names with ``kind="tucker"`` and are reached
through :func:`dlra.solve` when ``Y0`` is a ``TuckerTensor``.  Conventions: :mod:`dlra.tucker.modes`.
"""

from . import (  # noqa: F401  (importing registers the integrators)
    augmented_bug,
    bug,
    ksl,
    midpoint_bug,
    parallel_bug,
    parallel_bug2,
    strang,
)
from .base import TuckerIntegrator, TuckerStepContext
from .fields import TuckerField, as_tucker_field
from .modes import fold, mode_factor, mode_product, multi_mode_product, unfold
from .state import prepare_field, prepare_state
from .tensor import TuckerTensor
from .truncation import TuckerRankControl

__all__ = [
    "TuckerField",
    "TuckerIntegrator",
    "TuckerRankControl",
    "TuckerStepContext",
    "TuckerTensor",
    "as_tucker_field",
    "fold",
    "mode_factor",
    "mode_product",
    "multi_mode_product",
    "prepare_field",
    "prepare_state",
    "unfold",
]
