"""Reproduction: the Schrödinger figures of the rank-adaptive BUG paper (Ceruti, Kusch & Lubich,
BIT 62 (2022), §6.1) at reduced size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _plot
from ._framework import (
    Case,
    Config,
    Figure,
    Outcome,
    Row,
    Study,
    fit_slope,
    fmt,
    integrate,
    shared_problem,
)

__all__ = ["CKL22Study"]


@dataclass
class CKL22Study(Study):
    """Reproduction of the four Schrödinger panels of Ceruti, Kusch & Lubich (2022), problem T4
    (N = 100, T = 1, one classical RK4 step per substep, as in the authors' scripts):

    (a) error against h for the fixed-rank BUG, r = 4, 8, 12 — expected slope 1 ± 0.25 for
        r = 12 and, for r = 4, a plateau at 1–1.5 × the best rank-4 error of A(1);
    (b) error against h for the rank-adaptive BUG from r₀ = 4, 8, 12 (ϑ = 10⁻⁶, r_max = 30) —
        expected slope 1 ± 0.25 from r₀ = 4 (calibration: 1.1e-2 … 1.1e-3 for h = 0.1 … 0.01);
    (c) rank against time from r₀ = 12 for h = 0.1 and the smallest h (information);
    (d) norm and energy drift against time at the smallest h for BUG r = 12, BUG r = 30 and the
        rank-adaptive BUG — expected: the adaptive drift is 100× below that of BUG r = 12 (with
        RK4 substeps the drift of the adaptive BUG is the RK4 drift, not exactly zero).

    ``--full`` uses the paper's step sizes 0.1 … 10⁻³.
    """

    name = "ckl22"
    title = "Reproduction: rank-adaptive BUG, Schrödinger (CKL 2022)"
    slope_tol: float = 0.25

    def _setup(self, cfg: Config) -> tuple[Any, list[float], list[int]]:
        problem = shared_problem("schrodinger", n=cfg.pick(40, 100, 100))
        hs = cfg.pick(
            [0.1, 0.05, 0.02], [0.1, 0.05, 0.02, 0.01], [0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001]
        )
        return problem, hs, cfg.pick([4, 8], [4, 8, 12], [4, 8, 12])

    def cases(self, cfg: Config) -> list[Case]:
        problem, hs, ranks = self._setup(cfg)
        out = []
        want_bug, want_ad = cfg.wants("bug"), cfg.wants("adaptive_bug")
        for r in ranks:
            for h in hs:
                if want_bug:
                    out.append(
                        Case(
                            ("bug", r, h),
                            f"ckl22 bug r={r} h={h:g}",
                            lambda r=r, h=h: _run(problem, "bug", cfg, h, r),
                        )
                    )
                if want_ad:
                    out.append(
                        Case(
                            ("adaptive_bug", r, h),
                            f"ckl22 adaptive r0={r} h={h:g}",
                            lambda r=r, h=h: _run(problem, "adaptive_bug", cfg, h, r),
                        )
                    )
        if want_bug:
            rbig = cfg.pick(20, 30, 30)
            out.append(
                Case(
                    ("bug", rbig, min(hs)),
                    f"ckl22 bug r={rbig}",
                    lambda: _run(problem, "bug", cfg, min(hs), rbig),
                )
            )
        return out

    def assess(self, cfg: Config, outcomes: dict[Any, Outcome]) -> tuple[list[Row], list[Figure]]:
        problem, hs, ranks = self._setup(cfg)
        rows: list[Row] = []
        fig, axes = _plot.subplots(2, 2, width=5.0, height=3.8)
        failed = [(k, o) for k, o in outcomes.items() if not o.ok]
        for k, o in failed:
            rows.append(Row.raised(self.name, str(k[0]), problem.name, "runs", f"{k}: {o.error}"))
        if failed:
            return rows, []
        for panel, method in ((0, "bug"), (1, "adaptive_bug")):
            ax = axes[panel]
            for i, r in enumerate(ranks):
                if (method, r, hs[0]) not in outcomes:
                    continue
                errs = [outcomes[(method, r, h)].value["error"] for h in hs]
                ax.loglog(
                    hs, errs, _plot.MARKERS[i] + "-", ms=4, label=f"r{'₀' if panel else ''} = {r}"
                )
                gate = r == max(ranks) if method == "bug" else r == min(ranks)
                if gate:
                    slope = fit_slope(hs, errs)
                    ok = abs(slope - 1) <= self.slope_tol
                    rows.append(
                        Row(
                            self.name,
                            method,
                            problem.name
                            + " [("
                            + "ab"[panel]
                            + f"), r{'₀' if panel else ''} = {r}]",
                            f"slope {slope:.2f}",
                            f"1 ± {self.slope_tol:g}",
                            ok,
                            "errors " + ", ".join(fmt(e) for e in errs),
                        )
                    )
                if method == "bug" and r == min(ranks):
                    best = problem.best_error(r)
                    ratio = errs[-1] / best
                    rows.append(
                        Row(
                            self.name,
                            method,
                            problem.name + f" [(a), r = {r}]",
                            f"plateau / best error {ratio:.2f}",
                            "in [1, 1.5]",
                            1.0 <= ratio <= 1.5,
                            f"error {fmt(errs[-1])} at h = {hs[-1]:g}, best rank-{r} "
                            f"error {fmt(best)}",
                        )
                    )
            starts = [line.get_ydata()[0] for line in ax.get_lines()]
            if not starts:  # the method of this panel was not selected (--methods)
                ax.text(0.5, 0.5, f"{method} not selected", ha="center", transform=ax.transAxes)
                ax.set_axis_off()
                continue
            _plot.reference_slope(ax, hs, 0.5 * max(starts), 1)
            if panel == 1:
                _plot.reference_slope(ax, hs, 0.5 * min(starts), 2)
            ax.set_xlabel("step size h")
            ax.set_ylabel("error ‖Y_N − A(1)‖_F")
            ax.set_title(
                ("(a) fixed-rank BUG", "(b) rank-adaptive BUG, ϑ = 1e-6")[panel], fontsize=9
            )
            _plot.legend(ax, fontsize=7)
            ax.grid(True, which="major", alpha=0.3)
        r0 = max(ranks)
        if cfg.wants("adaptive_bug"):
            for h in sorted({hs[0], hs[-1]}, reverse=True):
                v = outcomes[("adaptive_bug", r0, h)].value
                axes[2].step(v["t"], v["ranks"], where="post", label=f"h = {h:g}")
        axes[2].set_xlabel("time t")
        axes[2].set_ylabel("rank")
        axes[2].set_title(f"(c) rank of the rank-adaptive BUG, r₀ = {r0}", fontsize=9)
        _plot.legend(axes[2], fontsize=7)
        axes[2].grid(True, alpha=0.3)
        hmin = min(hs)
        drift: dict[str, float] = {}
        rbig = cfg.pick(20, 30, 30)
        for i, (key, lab) in enumerate(
            (
                (("bug", r0, hmin), f"BUG r = {r0}"),
                (("bug", rbig, hmin), f"BUG r = {rbig}"),
                (("adaptive_bug", r0, hmin), f"adaptive BUG r₀ = {r0}"),
            )
        ):
            if key not in outcomes:
                continue
            v = outcomes[key].value
            axes[3].semilogy(v["t"], np.maximum(v["dnorm"], 1e-17), f"C{i}-", label=f"{lab} norm")
            axes[3].semilogy(
                v["t"], np.maximum(v["denergy"], 1e-17), f"C{i}--", label=f"{lab} energy"
            )
            drift[key[0] + str(key[1])] = max(v["dnorm"])
        if f"bug{r0}" in drift and f"adaptive_bug{r0}" in drift:
            ratio = drift[f"adaptive_bug{r0}"] / drift[f"bug{r0}"]
            rows.append(
                Row(
                    self.name,
                    "adaptive_bug",
                    problem.name + " [(d) norm drift]",
                    f"drift ratio adaptive / BUG {ratio:.1e}",
                    "≤ 1e-2",
                    ratio <= 1e-2,
                    f"max norm drift at h = {hmin:g}: adaptive "
                    f"{fmt(drift[f'adaptive_bug{r0}'])}, BUG {fmt(drift[f'bug{r0}'])}",
                )
            )
        axes[3].set_xlabel("time t")
        axes[3].set_ylabel("|‖Y(t)‖ − ‖A₀‖|,  |E(Y(t)) − E(A₀)|")
        axes[3].set_title(f"(d) norm (solid) and energy (dashed) drift, h = {hmin:g}", fontsize=9)
        _plot.legend(axes[3], fontsize=6)
        axes[3].grid(True, which="major", alpha=0.3)
        return rows, [
            _plot.save(
                fig,
                cfg,
                "ckl22_schrodinger",
                "Reproduction of the Schrödinger figures of Ceruti, Kusch & "
                "Lubich (2022), RK4 substeps.",
            )
        ]


def _run(problem: Any, method: str, cfg: Config, h: float, r: int) -> dict[str, Any]:
    kw = {"tol": 1e-6, "max_rank": cfg.pick(20, 30, 30)} if method == "adaptive_bug" else {}
    sol = integrate(problem, method, cfg, h=h, rank=r, substep="rk4", save_at="steps", **kw)
    n0, e0 = sol.y[0].norm(), problem.energy(sol.y[0])
    return {
        "error": problem.error(sol.y[-1]),
        "t": list(sol.t),
        "ranks": list(sol.ranks),
        "dnorm": [abs(y.norm() - n0) for y in sol.y],
        "denergy": [abs(problem.energy(y) - e0) for y in sol.y],
    }
