"""The validation studies, one module each, registered by name (``dlra validate --studies``)."""

from __future__ import annotations

from ._framework import Case, Config, Figure, Outcome, Row, Study, StudyResult
from .ckl22 import CKL22Study
from .conservation import ConservationStudy
from .exactness import ExactnessStudy
from .kusch24 import Kusch24Study
from .order import OrderStudy
from .rank import RankStudy
from .robustness import RobustnessStudy
from .symmetry import SymmetryStudy
from .truncation import TruncationStudy
from .tucker import TuckerStudy

__all__ = [
    "STUDIES",
    "CKL22Study",
    "Case",
    "Config",
    "ConservationStudy",
    "ExactnessStudy",
    "Figure",
    "Kusch24Study",
    "OrderStudy",
    "Outcome",
    "RankStudy",
    "RobustnessStudy",
    "Row",
    "Study",
    "StudyResult",
    "SymmetryStudy",
    "TruncationStudy",
    "TuckerStudy",
]

#: name → study class, in report order
STUDIES: dict[str, type[Study]] = {
    cls.name: cls
    for cls in (
        OrderStudy,
        ExactnessStudy,
        RobustnessStudy,
        TruncationStudy,
        ConservationStudy,
        RankStudy,
        SymmetryStudy,
        TuckerStudy,
        CKL22Study,
        Kusch24Study,
    )
}
