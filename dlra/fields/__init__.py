"""Right-hand sides: plain callables, explicitly given data, linear operator fields, the protocol."""

from .base import CallableField, Field, Flow, as_field
from .data import DataField
from .linear import LinearField
from .operators import Operator, as_operator

__all__ = [
    "CallableField",
    "DataField",
    "Field",
    "Flow",
    "LinearField",
    "Operator",
    "as_field",
    "as_operator",
]
