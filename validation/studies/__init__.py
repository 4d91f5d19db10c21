"""The validation studies, one module each, registered by name (``dlra validate --studies``)."""

from __future__ import annotations

from ._framework import Case, Config, Figure, Outcome, Row, Study, StudyResult
from .exactness import ExactnessStudy
from .order import OrderStudy
from .robustness import RobustnessStudy
from .symmetry import SymmetryStudy

__all__ = [
    "STUDIES",
    "Case",
    "Config",
    "ExactnessStudy",
    "Figure",
    "OrderStudy",
    "Outcome",
    "RobustnessStudy",
    "Row",
    "Study",
    "StudyResult",
    "SymmetryStudy",
]

#: name → study class, in report order
STUDIES: dict[str, type[Study]] = {
    cls.name: cls
    for cls in (
        OrderStudy,
        ExactnessStudy,
        RobustnessStudy,
        SymmetryStudy,
    )
}
