"""Run a selection of studies under one progress bar and collect their results."""

from __future__ import annotations

import time
from collections.abc import Sequence

from .studies import STUDIES, _plot
from .studies._framework import Config, Row, Study, StudyResult, clear_caches, run_cases

__all__ = ["run"]


def run(
    studies: Sequence[Study] | None = None, cfg: Config | None = None, *, progress: bool = True
) -> list[StudyResult]:
    """Run ``studies`` (default: all registered) with ``cfg``; returns one result per study.

    A study whose assessment raises gets one failed row saying so, and the other studies' results
    are kept (the run's report is still written)."""
    cfg = cfg or Config()
    studies = list(studies) if studies is not None else [cls() for cls in STUDIES.values()]
    plans = [(study, study.cases(cfg)) for study in studies]
    total = sum(len(cases) for _, cases in plans)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="dlra validate", unit="case")

    def tick(label: str) -> None:
        if bar is not None:
            bar.set_postfix_str(label[:40], refresh=False)
            bar.update(1)

    results = []
    clear_caches()
    try:
        for study, cases in plans:
            start = time.perf_counter()
            outcomes = run_cases(cases, tick)
            try:
                rows, figures = study.assess(cfg, outcomes)
            except Exception as exc:  # a defect of the study: report it, keep the other studies
                _plot.plt.close("all")
                error = f"assessing the study raised {type(exc).__name__}: {exc}"
                rows, figures = [Row.raised(study.name, "—", "—", "assessment", error)], []
            results.append(
                StudyResult(
                    name=study.name,
                    title=study.title,
                    description=study.description(),
                    rows=rows,
                    figures=figures,
                    seconds=time.perf_counter() - start,
                )
            )
    finally:
        clear_caches()
        if bar is not None:
            bar.close()
    return results
