"""The validation studies, one module each, registered by name (``dlra validate --studies``)."""

from __future__ import annotations

from ._framework import Case, Config, Figure, Outcome, Row, Study, StudyResult
from .order import OrderStudy

__all__ = [
    "STUDIES",
    "Case",
    "Config",
    "Figure",
    "OrderStudy",
    "Outcome",
    "Row",
    "Study",
    "StudyResult",
]

#: name → study class, in report order
STUDIES: dict[str, type[Study]] = {cls.name: cls for cls in (OrderStudy,)}
