"""The study framework: configuration, cases, result rows, figures and the shared solve helper.

A study is a small object that (1) lists its *cases* — independent units of work, typically one
error curve of one method on one problem — which the runner executes under one progress bar, and
(2) *assesses* their outcomes: it turns measurements into table rows (measured vs expected,
pass/fail) and writes its figures.  Expected values come from :mod:`validation.expectations` and can
be overridden per study instance (the tests use this to check that a wrong expectation fails).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "Case",
    "Config",
    "Figure",
    "Outcome",
    "Row",
    "Study",
    "StudyResult",
    "clear_caches",
    "fit_slope",
    "integrate",
    "shared_problem",
]

SIZES = ("tiny", "quick", "full")


@dataclass(frozen=True)
class Config:
    """What to run and where.

    ``methods``: integrator names to include (None: all); ``backend``: ``"numpy"`` or ``"torch"``;
    ``device``: torch device (``"cpu"``/``"cuda"``); ``size``: ``"tiny"`` (tests), ``"quick"``
    (default, a few minutes on a laptop) or ``"full"`` (the papers' sizes); ``out``: report folder.
    """

    methods: tuple[str, ...] | None = None
    backend: str = "numpy"
    device: str | None = None
    size: str = "quick"
    out: Path = Path("validation-report")

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ValueError(f"size must be one of {SIZES}, got {self.size!r}")
        if self.backend not in ("numpy", "torch"):
            raise ValueError(f"backend must be 'numpy' or 'torch', got {self.backend!r}")

    def wants(self, method: str) -> bool:
        return self.methods is None or method in self.methods

    def pick(self, tiny: Any, quick: Any, full: Any) -> Any:
        """The value for the current size."""
        return {"tiny": tiny, "quick": quick, "full": full}[self.size]

    @property
    def figures(self) -> Path:
        return self.out / "figures"


@dataclass
class Row:
    """One line of the report table.  ``passed``: True/False, or None for information only."""

    study: str
    method: str
    problem: str
    measured: str
    expected: str
    passed: bool | None
    note: str = ""

    @property
    def status(self) -> str:
        return {True: "pass", False: "FAIL", None: "info"}[self.passed]

    @classmethod
    def raised(cls, study: str, method: str, problem: str, expected: str, error: str | None) -> Row:
        """The failed row of a case whose run raised ``error``."""
        return cls(study, method, problem, "raised", expected, False, error or "")


@dataclass
class Figure:
    """A PNG written by a study (``path`` relative to the report folder) and its caption."""

    path: str
    caption: str


@dataclass
class Case:
    """One unit of work: ``run()`` returns a measurement (any picklable value)."""

    key: Any
    label: str
    run: Callable[[], Any]


@dataclass
class Outcome:
    """The result of a case: ``value``, or ``error`` (a message) when it raised."""

    value: Any = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class StudyResult:
    name: str
    title: str
    description: str
    rows: list[Row] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(r.passed is not False for r in self.rows)


class Study:
    """Base class.  Subclasses set :attr:`name`, :attr:`title`, a docstring that says what the study
    checks and why, and implement :meth:`cases` and :meth:`assess`."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""

    def cases(self, cfg: Config) -> list[Case]:
        raise NotImplementedError

    def assess(self, cfg: Config, outcomes: dict[Any, Outcome]) -> tuple[list[Row], list[Figure]]:
        raise NotImplementedError

    @classmethod
    def description(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc

    def failed_rows(self, outcomes: dict[Any, Outcome], cases: Iterable[Case]) -> list[Row]:
        """Rows for cases that raised (a failure is a failed expectation)."""
        rows = []
        for case in cases:
            out = outcomes.get(case.key)
            if out is not None and not out.ok:
                rows.append(Row.raised(self.name, _method_of(case.key), "", "runs", out.error))
        return rows


def _method_of(key: Any) -> str:
    if isinstance(key, tuple) and key:
        return str(key[0])
    return str(key)


def run_cases(
    cases: Sequence[Case], tick: Callable[[str], None] | None = None
) -> dict[Any, Outcome]:
    """Execute cases in order, catching exceptions into :class:`Outcome` errors."""
    outcomes: dict[Any, Outcome] = {}
    for case in cases:
        start = time.perf_counter()
        try:
            outcomes[case.key] = Outcome(value=case.run())
        except Exception as exc:
            outcomes[case.key] = Outcome(error=f"{type(exc).__name__}: {exc}")
        outcomes[case.key].seconds = time.perf_counter() - start
        if tick is not None:
            tick(case.label)
    return outcomes


# -- numerics shared by the studies ---------------------------------------------------------------
def fit_slope(
    h: Sequence[float], err: Sequence[float], *, floor: float = 0.0, points: int = 4
) -> float:
    """Least-squares slope of ``log err`` against ``log h`` on the asymptotic range: the ``points``
    smallest step sizes whose error is above ``floor`` (round-off or plateau).  NaN if fewer than two
    such points."""
    pairs = sorted((float(a), float(b)) for a, b in zip(h, err, strict=True))
    keep = [(a, b) for a, b in pairs if b > floor and math.isfinite(b) and b > 0][:points]
    if len(keep) < 2:
        return math.nan
    x = np.log([a for a, _ in keep])
    y = np.log([b for _, b in keep])
    return float(np.polyfit(x, y, 1)[0])


def substep_for(problem: Any, h: float, default: Any = "exact") -> Any:
    """``"exact"`` where the problem's field has closed-form substeps, else RK4 with enough
    sub-steps for stability on stiff problems."""
    import dlra

    if getattr(problem, "exact_substeps", False) and default == "exact":
        return "exact"
    steps = problem.rk4_steps(h) if hasattr(problem, "rk4_steps") else 1
    return dlra.RK4(steps=steps) if default == "exact" or steps > 1 else default


def integrate(
    problem: Any,
    method: str,
    cfg: Config,
    *,
    h: float,
    rank: int,
    substep: Any = None,
    save_at: Any = None,
    T: float | None = None,
    **options: Any,
) -> Any:
    """Run ``dlra.solve`` on ``problem`` from its rank-``rank`` start with step ``h`` on the configured
    backend/device; ``options`` go to ``solve`` (``tol``, ``max_rank``, ``variant``, ...).  Fixed-rank
    runs of truncating methods get ``rank=rank`` unless a tolerance is given."""
    import dlra

    key = (
        id(problem),
        method,
        h,
        rank,
        repr(substep),
        repr(save_at),
        T,
        cfg.backend,
        cfg.device,
        tuple(sorted((k, repr(v)) for k, v in options.items())),
    )
    hit = _SOLUTIONS.get(key)
    if hit is not None and hit[0] is problem:
        return hit[1]
    F = _field(problem, cfg)
    Y0 = problem.y0(rank, cfg.backend, cfg.device)
    if substep is None:
        substep = substep_for(problem, h)
    truncating = getattr(dlra.INTEGRATORS.get(method), "truncates", False)
    if truncating and "tol" not in options and "rtol" not in options and "rank" not in options:
        options["rank"] = rank
    sol = dlra.solve(
        F,
        Y0,
        (problem.t0, problem.T if T is None else T),
        h=h,
        method=method,
        substep=substep,
        save_at=save_at,
        **options,
    )
    _SOLUTIONS[key] = (problem, sol)
    return sol


#: solutions of the current run, shared between studies (e.g. the rank and conservation studies
#: use the same adaptive runs); cleared by :func:`clear_caches` at the start of every run
_SOLUTIONS: dict[tuple, tuple[Any, Any]] = {}


_PROBLEMS: dict[tuple, Any] = {}


def shared_problem(name: str, **params: Any) -> Any:
    """``validation.problems.make(name, **params)``, one instance per run, so that studies using
    the same problem share its reference solutions and their solves."""
    from ..problems import make

    key = (name, tuple(sorted(params.items())))
    if key not in _PROBLEMS:
        _PROBLEMS[key] = make(name, **params)
    return _PROBLEMS[key]


def clear_caches() -> None:
    _SOLUTIONS.clear()
    _FIELDS.clear()
    _PROBLEMS.clear()


_FIELDS: dict[tuple[int, str, str | None], Any] = {}


def _field(problem: Any, cfg: Config) -> Any:
    key = (id(problem), cfg.backend, cfg.device)
    hit = _FIELDS.get(key)
    if hit is None or hit[0] is not problem:
        hit = (problem, problem.field(cfg.backend, cfg.device))
        _FIELDS[key] = hit
    return hit[1]


def fmt(x: float) -> str:
    """Compact scientific number for tables."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    return f"{x:.2e}"
