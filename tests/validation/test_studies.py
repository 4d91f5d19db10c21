"""Every study runs at tiny size, passes with the theory's expectations, and fails when given a
deliberately wrong expectation (so that its pass/fail logic can fail)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from validation import expectations as ex
from validation.studies import STUDIES, Config, Study
from validation.studies._framework import clear_caches, fit_slope, run_cases
from validation.studies.robustness import fit_error_model

#: per study: methods to run at tiny size (None: all) and a wrong expectation
WRONG: dict[str, tuple[tuple[str, ...] | None, dict[str, Any]]] = {
    "order": (
        ("ksl", "bug", "midpoint_bug"),
        {"claims": {**ex.ORDER, "bug": ex.OrderClaim(2, "wrong on purpose")}},
    ),
    "exactness": (("bug", "parallel_bug"), {"exact": ex.EXACT | {"parallel_bug"}}),
    "robustness": (("bug", "parallel_bug"), {"model_factor": 1.0001}),
    "truncation": (("adaptive_bug",), {"c3": 1e-6}),
    "conservation": (("bug", "adaptive_bug"), {"conserving": frozenset({"bug", "adaptive_bug"})}),
    "rank": (("adaptive_bug",), {"expect_growth": False}),
    "symmetry": (("ksl", "bug"), {"symmetric": ex.SYMMETRIC | {"ksl"}}),
    "tucker": (("bug", "parallel_bug"), {"exact": ex.EXACT | {"parallel_bug"}}),
    "ckl22": (("bug", "adaptive_bug"), {"slope_tol": 0.0}),
    "kusch24": (("parallel_bug", "midpoint_bug"), {"first_order_tol": 0.0}),
}


def test_every_study_has_a_wrong_expectation() -> None:
    assert set(WRONG) == set(STUDIES)


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_study_passes_and_detects_a_wrong_expectation(name: str, tmp_path: Path) -> None:
    methods, wrong = WRONG[name]
    cfg = Config(methods=methods, size="tiny", out=tmp_path)
    study: Study = STUDIES[name]()
    clear_caches()
    cases = study.cases(cfg)
    assert cases, "a study with a method selection must have work to do"
    outcomes = run_cases(cases)
    errors = {c.label: outcomes[c.key].error for c in cases if not outcomes[c.key].ok}
    assert not errors
    rows, figures = study.assess(cfg, outcomes)
    assert rows and figures
    failed = [r for r in rows if r.passed is False]
    assert not failed, failed
    for fig in figures:
        assert (tmp_path / fig.path).stat().st_size > 10_000  # a real PNG with content
    bad = dataclasses.replace(study, **wrong)
    bad_rows, _ = bad.assess(cfg, outcomes)
    clear_caches()
    assert any(r.passed is False for r in bad_rows)


def test_failing_case_becomes_a_failed_row(tmp_path: Path) -> None:
    cfg = Config(methods=("bug",), size="tiny", out=tmp_path)
    study = STUDIES["symmetry"]()
    cases = study.cases(cfg)

    def boom() -> None:
        raise RuntimeError("broken integrator")

    cases[0].run = boom
    rows, _ = study.assess(cfg, run_cases(cases))
    assert [r.passed for r in rows] == [False]
    assert "broken integrator" in rows[0].note


def test_fit_slope_uses_the_asymptotic_range() -> None:
    h = [0.1, 0.05, 0.025, 0.0125]
    assert fit_slope(h, [x**2 for x in h]) == pytest.approx(2.0)
    # round-off floor: points at or below it are ignored
    assert fit_slope(h, [1e-2, 2.5e-3, 1e-16, 1e-16], floor=1e-13) == pytest.approx(2.0)
    assert fit_slope(h, [1e-16] * 4, floor=1e-13) != fit_slope(h, [1e-16] * 4, floor=1e-13)  # nan


def test_error_model_fit_recovers_constants() -> None:
    eps = [1e-2, 1e-4, 1e-6] * 2
    hs = [0.1] * 3 + [0.05] * 3
    err = [3.0 * e + 2.0 * h**2 for e, h in zip(eps, hs, strict=True)]
    c1, c2, p, factor = fit_error_model(eps, hs, err)
    assert (p, factor) == (2, pytest.approx(1.0))
    assert c1 == pytest.approx(3.0) and c2 == pytest.approx(2.0)


def test_order_claims() -> None:
    assert ex.ORDER["bug"].holds(1.1) and not ex.ORDER["bug"].holds(1.3)
    assert ex.ORDER["midpoint_bug"].holds(2.25) and not ex.ORDER["midpoint_bug"].holds(1.6)
    assert ex.ORDER["augmented_bug"].holds(2.0) and not ex.ORDER["augmented_bug"].holds(0.7)
    assert ex.EXACT.isdisjoint(ex.NOT_EXACT)


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="size must be one of"):
        Config(size="huge")
    with pytest.raises(ValueError, match="backend must be"):
        Config(backend="jax")


def test_conservation_decides_with_its_drift_tolerance(tmp_path: Path) -> None:
    cfg = Config(methods=("bug",), size="tiny", out=tmp_path)
    study = STUDIES["conservation"]()
    clear_caches()
    outcomes = run_cases(study.cases(cfg))
    rows, _ = study.assess(cfg, outcomes)
    (drift,) = [r for r in rows if r.method == "bug"]
    assert drift.passed is True
    assert f"± {study.drift_tol:g}" in drift.expected
    # a tolerance no fitted slope can meet must fail the same measurement
    strict_rows, _ = dataclasses.replace(study, drift_tol=1e-9).assess(cfg, outcomes)
    clear_caches()
    (strict,) = [r for r in strict_rows if r.method == "bug"]
    assert strict.passed is False and strict.measured == drift.measured


@pytest.mark.parametrize("method", ["bug", "adaptive_bug"])
def test_ckl22_with_one_of_its_two_methods(method: str, tmp_path: Path) -> None:
    # each of the panels (a) and (b) belongs to one method; the other panel stays empty
    cfg = Config(methods=(method,), size="tiny", out=tmp_path)
    study = STUDIES["ckl22"]()
    clear_caches()
    rows, figures = study.assess(cfg, run_cases(study.cases(cfg)))
    clear_caches()
    assert rows and {r.method for r in rows} == {method}
    assert all(r.passed is not False for r in rows), rows
    assert len(figures) == 1 and (tmp_path / figures[0].path).stat().st_size > 10_000


def test_a_raising_assessment_keeps_the_other_studies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from validation.runner import run

    broken, intact = STUDIES["symmetry"](), STUDIES["exactness"]()

    def boom(cfg: Config, outcomes: dict) -> Any:
        raise RuntimeError("defect in the assessment")

    monkeypatch.setattr(broken, "assess", boom)
    cfg = Config(methods=("bug",), size="tiny", out=tmp_path)
    first, second = run([broken, intact], cfg, progress=False)
    assert [r.passed for r in first.rows] == [False]
    assert "RuntimeError: defect in the assessment" in first.rows[0].note
    assert second.rows and all(r.passed for r in second.rows)
