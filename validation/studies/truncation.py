"""Truncation study: error against the truncation tolerance ϑ at fixed step size (T4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import expectations as ex
from . import _plot
from ._framework import Case, Config, Figure, Outcome, Row, Study, fmt, integrate, shared_problem

__all__ = ["TruncationStudy"]


@dataclass
class TruncationStudy(Study):
    """The truncation term of the error bound (integrators.md §6 row 8): for the schemes that
    truncate by a tolerance, ``‖Yₙ − A(tₙ)‖ ≤ c₀δ + c₁ε + c₂hᵖ + c₃nϑ`` (Ceruti, Kusch & Lubich
    2022; the parallel and second-order papers have the same term).

    T4 (Schrödinger) at fixed h = 0.02 from r₀ = 4 with ϑ from 10⁻⁸ to 10⁻²: expected
    ``err(ϑ) ≤ err(ϑ_min) + nϑ`` for every ϑ (constant c₃ = 1) and a visible truncation term,
    ``err(ϑ_max) ≥ 2·err(ϑ_min)``.  The fitted slope of the excess error against ϑ is reported.
    """

    name = "truncation"
    title = "Truncation term (error vs ϑ)"
    c3: float = 1.0

    def _setup(self, cfg: Config) -> tuple[Any, float, list[float], int, int]:
        problem = shared_problem("schrodinger", n=cfg.pick(40, 100, 100))
        thetas = cfg.pick(
            [1e-8, 1e-4, 1e-2],
            [1e-8, 1e-6, 1e-4, 1e-3, 1e-2],
            [1e-10, 1e-8, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2],
        )
        return problem, cfg.pick(0.05, 0.02, 0.01), thetas, 4, cfg.pick(20, 40, 60)

    def cases(self, cfg: Config) -> list[Case]:
        problem, h, thetas, r0, rmax = self._setup(cfg)
        out = []
        for m in ex.MATRIX_METHODS:
            if m not in ex.TRUNCATING or not cfg.wants(m):
                continue

            def run(m: str = m) -> Any:
                res = []
                for th in thetas:
                    sol = integrate(problem, m, cfg, h=h, rank=r0, tol=th, max_rank=rmax)
                    res.append((problem.error(sol.y[-1]), sol.ranks[-1], sol.n_steps))
                return res

            out.append(Case((m,), f"truncation {m}", run))
        return out

    def assess(self, cfg: Config, outcomes: dict[Any, Outcome]) -> tuple[list[Row], list[Figure]]:
        problem, h, thetas, r0, rmax = self._setup(cfg)
        rows: list[Row] = []
        fig, axes = _plot.subplots(1, width=6.0)
        ax = axes[0]
        expected = f"err(ϑ) ≤ err(ϑ_min) + {self.c3:g}·nϑ; err(ϑ_max) ≥ 2·err(ϑ_min)"
        for i, (m,) in enumerate(k for k in outcomes):
            out = outcomes[(m,)]
            if not out.ok:
                rows.append(Row.raised(self.name, m, problem.name, expected, out.error))
                continue
            errs = [e for e, _, _ in out.value]
            ranks = [r for _, r, _ in out.value]
            n = out.value[0][2]
            floor = errs[0]
            bound_ok = all(
                e <= floor + self.c3 * n * th for e, th in zip(errs, thetas, strict=True)
            )
            visible = errs[-1] >= 2 * floor
            excess = [
                (th, e - floor) for th, e in zip(thetas, errs, strict=True) if e > 1.5 * floor
            ]
            slope = (
                float(
                    np.polyfit(np.log([a for a, _ in excess]), np.log([b for _, b in excess]), 1)[0]
                )
                if len(excess) >= 2
                else float("nan")
            )
            rows.append(
                Row(
                    self.name,
                    m,
                    problem.name + f" [h={h:g}]",
                    f"err(ϑ_max)/err(ϑ_min) {errs[-1] / floor:.1f}, excess slope {slope:.2f}",
                    expected,
                    bound_ok and visible,
                    "errors "
                    + ", ".join(
                        f"ϑ={th:g}: {fmt(e)} (rank {r})"
                        for th, e, r in zip(thetas, errs, ranks, strict=True)
                    ),
                )
            )
            ax.loglog(thetas, errs, _plot.MARKERS[i % len(_plot.MARKERS)] + "-", ms=4, label=m)
            if i == 0:
                ax.loglog(
                    thetas,
                    [floor + self.c3 * n * th for th in thetas],
                    "k:",
                    lw=1,
                    label="bound err(ϑ_min) + nϑ",
                )
        ax.set_xlabel("truncation tolerance ϑ")
        ax.set_ylabel("error ‖Y_N − A(1)‖_F")
        ax.set_title(f"{problem.name}, h = {h:g}, r₀ = {r0}, r_max = {rmax}", fontsize=9)
        _plot.legend(ax, fontsize=7)
        ax.grid(True, which="major", alpha=0.3)
        return rows, [
            _plot.save(fig, cfg, "truncation", "Error against the truncation tolerance at fixed h.")
        ]
