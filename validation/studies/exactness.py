"""Exactness study: which integrators reproduce data of exact rank r, and which do not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import expectations as ex
from ..problems import make
from . import _plot
from ._framework import Case, Config, Figure, Outcome, Row, Study, fmt, integrate

__all__ = ["ExactnessStudy"]


@dataclass
class ExactnessStudy(Study):
    """Exactness for data of exact rank r (integrators.md §6 rows 1, 2, 13).

    Explicit data ``A(t)`` of rank exactly r, ``Y₀ = A(t₀)``, exact increments as substeps: KSL,
    Strang, BUG, augmented and rank-adaptive BUG (ϑ = 10⁻¹⁰ ≪ σ_r) return ``A(tₙ)`` up to
    round-off — expected ``error ≤ 10⁻¹²·‖A(T)‖`` for every h (Lubich & Oseledets 2014; Ceruti &
    Lubich 2022; Ceruti, Kusch & Lubich 2022).  The parallel BUG, the midpoint BUG and the
    second-order parallel integrator are *not* exact: expected error ≥ 10³ × that threshold at the
    largest h, decreasing with h (and still above the threshold at the smallest h).  Problems: T2 with D = D_r (‖W‖₂ = 1) and T1 with ε = 0 (rank 10, fast
    rotation).  Also KSL and Strang on the tangent linear ODE ``F(Y) = B₁Y + YB₂ᵀ`` with exact
    substeps, where the projector-splitting substeps are exact flows (our observation, no
    published statement).
    """

    name = "exactness"
    title = "Exactness for rank-r data"
    exact: frozenset[str] = field(default_factory=lambda: ex.EXACT)
    not_exact: frozenset[str] = field(default_factory=lambda: ex.NOT_EXACT)
    tol: float = ex.EXACT_TOL

    def _problems(self, cfg: Config) -> list[tuple[str, Any, int, list[float], list[str]]]:
        n = cfg.pick(30, 100, 100)
        r = cfg.pick(4, 8, 8)
        hs = cfg.pick([0.1, 0.05], [0.1, 0.05], [0.1, 0.05, 0.025, 0.0125])
        data = list(ex.MATRIX_METHODS)
        return [
            ("T2", make("prescribed-exact", n=n, exact_rank=r), r, hs, data),
            (
                "T1",
                make("rotating", n=n, eps=0.0, core_rank=cfg.pick(4, 10, 10)),
                cfg.pick(4, 10, 10),
                [h / 2 for h in hs],
                data,
            ),
            ("T2-ode", make("prescribed-exact-ode", n=n, exact_rank=r), r, hs, ["ksl", "strang"]),
        ]

    def cases(self, cfg: Config) -> list[Case]:
        out = []
        for tag, problem, r, hs, methods in self._problems(cfg):
            for m in methods:
                if not cfg.wants(m):
                    continue

                def run(m: str = m, problem: Any = problem, r: int = r, hs: list = hs) -> Any:
                    errs = []
                    for h in hs:
                        kw = {"tol": 1e-10} if m == "adaptive_bug" else {}
                        sol = integrate(problem, m, cfg, h=h, rank=r, **kw)
                        errs.append(problem.error(sol.y[-1]))
                    return hs, errs

                out.append(Case((m, tag), f"exactness {m} {tag}", run))
        return out

    def assess(self, cfg: Config, outcomes: dict[Any, Outcome]) -> tuple[list[Row], list[Figure]]:
        rows: list[Row] = []
        fig, axes = _plot.subplots(1, width=9.0)
        ax = axes[0]
        problems = self._problems(cfg)
        width = 0.8 / len(problems)
        for j, (tag, problem, _r, _hs, methods) in enumerate(problems):
            scale = problem.scale()
            threshold = self.tol * scale
            xs, ys = [], []
            for i, m in enumerate(ex.MATRIX_METHODS):
                out = outcomes.get((m, tag))
                if m not in methods or out is None:
                    continue
                if m in self.exact:
                    expected = f"≤ {fmt(threshold)}"
                elif m in self.not_exact:
                    expected = f"≥ {fmt(1e3 * threshold)} at h_max, decreasing in h"
                else:
                    expected = "—"
                if not out.ok:
                    rows.append(Row.raised(self.name, m, problem.name, expected, out.error))
                    continue
                hs, errs = out.value
                worst = max(errs)
                if m in self.exact:
                    ok: bool | None = worst <= threshold
                elif m in self.not_exact:
                    ok = errs[0] >= 1e3 * threshold and threshold < errs[-1] < errs[0]
                else:
                    ok = None
                note = "errors " + ", ".join(
                    f"{fmt(e)} (h={h:g})" for h, e in zip(hs, errs, strict=True)
                )
                rows.append(
                    Row(self.name, m, problem.name, f"max error {fmt(worst)}", expected, ok, note)
                )
                xs.append(i + (j - (len(problems) - 1) / 2) * width)
                ys.append(max(worst, 1e-17))
            ax.bar(xs, ys, width=width, label=f"{tag}: {problem.name}")
            ax.axhline(threshold, color=f"C{j}", ls="--", lw=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(ex.MATRIX_METHODS)))
        ax.set_xticklabels(ex.MATRIX_METHODS, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("max error over h, ‖Y_N − A(T)‖_F")
        ax.set_xlabel("integrator")
        ax.set_title(
            "Exact-rank data: dashed lines = 1e-12·‖A(T)‖ (exactness threshold)", fontsize=9
        )
        _plot.legend(ax, fontsize=7)
        ax.grid(True, axis="y", which="major", alpha=0.3)
        return rows, [
            _plot.save(
                fig, cfg, "exactness", "Largest error over the step sizes on data of exact rank r."
            )
        ]


def _finite(values: list[float]) -> bool:
    return bool(np.all(np.isfinite(values)))
