"""Symmetry study: BUG-type integrators keep a symmetric solution symmetric, KSL does not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import expectations as ex
from ..problems import SymmetricRiccati, make
from . import _plot
from ._framework import Case, Config, Figure, Outcome, Row, Study, fmt, integrate

__all__ = ["SymmetryStudy"]


@dataclass
class SymmetryStudy(Study):
    """Symmetry preservation (integrators.md §6 row 12).

    ``Ȧ = BA + ABᵀ + 0.1·A²`` maps symmetric matrices to symmetric matrices; from a symmetric
    ``Y₀ = USUᵀ`` the fixed-rank, augmented and rank-adaptive BUG keep ``‖Yₙ − Yₙᵀ‖ ≤ 10⁻¹³‖Yₙ‖``
    (their K- and L-steps are mirror images; Ceruti & Lubich 2022, Ceruti, Kusch & Lubich 2022),
    while the projector-splitting integrator (KSL) breaks the symmetry well above round-off
    (expected ≥ 10⁻¹⁰; our calibration: ~10⁻⁶).  Other methods: reported for information.
    """

    name = "symmetry"
    title = "Symmetry preservation"
    symmetric: frozenset[str] = field(default_factory=lambda: ex.SYMMETRIC)
    not_symmetric: frozenset[str] = field(default_factory=lambda: ex.NOT_SYMMETRIC)
    tol: float = 1e-13
    violation: float = 1e-10

    def _problem(self, cfg: Config) -> tuple[Any, int, float]:
        return (
            make("symmetric", n=cfg.pick(20, 60, 100), rank=cfg.pick(3, 6, 8)),
            cfg.pick(3, 6, 8),
            cfg.pick(0.1, 0.05, 0.01),
        )

    def cases(self, cfg: Config) -> list[Case]:
        problem, r, h = self._problem(cfg)
        out = []
        for m in ex.MATRIX_METHODS:
            if not cfg.wants(m):
                continue

            def run(m: str = m) -> Any:
                kw = {"tol": 1e-10, "max_rank": 2 * r} if m == "adaptive_bug" else {}
                sol = integrate(problem, m, cfg, h=h, rank=r, substep="rk4", save_at="steps", **kw)
                return sol.t, [SymmetricRiccati.asymmetry(y) for y in sol.y]

            out.append(Case((m,), f"symmetry {m}", run))
        return out

    def assess(self, cfg: Config, outcomes: dict[Any, Outcome]) -> tuple[list[Row], list[Figure]]:
        problem, r, h = self._problem(cfg)
        rows: list[Row] = []
        fig, axes = _plot.subplots(1, width=6.5)
        ax = axes[0]
        for i, m in enumerate(ex.MATRIX_METHODS):
            out = outcomes.get((m,))
            if out is None:
                continue
            if m in self.symmetric:
                expected = f"≤ {fmt(self.tol)}"
            elif m in self.not_symmetric:
                expected = f"> {fmt(self.violation)} (violated)"
            else:
                expected = "—"
            if not out.ok:
                rows.append(Row.raised(self.name, m, problem.name, expected, out.error))
                continue
            t, asym = out.value
            worst = max(asym)
            if m in self.symmetric:
                ok: bool | None = worst <= self.tol
            elif m in self.not_symmetric:
                ok = worst > self.violation
            else:
                ok = None
            rows.append(
                Row(
                    self.name,
                    m,
                    problem.name,
                    f"max ‖Y−Yᵀ‖/‖Y‖ {fmt(worst)}",
                    expected,
                    ok,
                    f"r = {r}, h = {h:g}, {len(t) - 1} steps",
                )
            )
            ax.semilogy(
                t,
                [max(a, 1e-18) for a in asym],
                _plot.MARKERS[i % len(_plot.MARKERS)] + "-",
                ms=3,
                label=m,
            )
        ax.axhline(self.tol, color="k", ls="--", lw=0.8, label="1e-13")
        ax.set_xlabel("time t")
        ax.set_ylabel("relative asymmetry ‖Yₙ − Yₙᵀ‖_F / ‖Yₙ‖_F")
        ax.set_title(f"{problem.name}, r = {r}, h = {h:g}", fontsize=9)
        _plot.legend(ax, fontsize=7, ncol=2)
        ax.grid(True, which="major", alpha=0.3)
        return rows, [_plot.save(fig, cfg, "symmetry", "Asymmetry of the iterates over time.")]
