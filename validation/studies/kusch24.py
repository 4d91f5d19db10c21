"""Reproduction: the error and norm curves of the second-order robust parallel integrator paper
(J. Kusch, arXiv:2403.02834, 2024, §6.1) and the midpoint BUG, at reduced size."""

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

__all__ = ["Kusch24Study"]

RUNS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("parallel_bug", {}),
    ("parallel_bug2", {"variant": "4r"}),
    ("parallel_bug2", {"variant": "3r"}),
    ("midpoint_bug", {"variant": "4r"}),
    ("midpoint_bug", {"variant": "3r"}),
)


def _label(method: str, opts: dict[str, Any]) -> str:
    return f"{method}[{opts['variant']}]" if "variant" in opts else method


@dataclass
class Kusch24Study(Study):
    """Reproduction of the conservation study of Kusch (2024), problem T5 (periodic Schrödinger,
    relative errors, T = 1), with exact substeps in place of the paper's ode45 at 10⁻¹⁰: error and
    norm drift against h for the parallel BUG (first order), the second-order parallel integrator
    (4r and 3r) and the midpoint BUG (4r and 3r) at fixed rank.  Quick size N = 100, r = 20;
    ``--full``: N = 500, r = 5, 10, 15, h = 10^linspace(0, −2, 10) as in the paper.

    Expected: parallel BUG slope 1 ± 0.25; second-order methods slope ≥ 1.7 on the range before
    the modelling-error plateau (points with error > 2 × the smallest error; the paper's figure
    carries h, h² and h³ guides and the pre-asymptotic slopes lie between 2 and 3), or the plateau
    already reached at the largest h; midpoint BUG relative norm drift ≤ 10⁻² × its smallest
    relative error (exact Galerkin step: the drift comes only from the rank truncation, so the norm
    is kept far more accurately than the solution); second-order parallel norm drift decreasing at least
    like h³ (the paper: "up to the truncation and O(h⁴)").
    """

    name = "kusch24"
    title = "Reproduction: second-order parallel and midpoint BUG (Kusch 2024)"
    first_order_tol: float = 0.25
    second_order_min: float = 1.7

    def _setup(self, cfg: Config) -> tuple[Any, list[float], list[int]]:
        n = cfg.pick(40, 100, 500)
        problem = shared_problem("schrodinger-periodic", n=n)
        hs = cfg.pick(
            [0.25, 0.125, 0.0625],
            [0.5, 0.25, 0.125, 0.0625, 0.03125],
            [float(h) for h in 10 ** np.linspace(0, -2, 10)],
        )
        return problem, hs, cfg.pick([10], [20], [5, 10, 15])

    def cases(self, cfg: Config) -> list[Case]:
        problem, hs, ranks = self._setup(cfg)
        out = []
        for m, opts in RUNS:
            if not cfg.wants(m):
                continue
            for r in ranks:

                def run(m: str = m, opts: dict = opts, r: int = r) -> Any:
                    res = []
                    for h in hs:
                        sol = integrate(problem, m, cfg, h=h, rank=r, save_at="steps", **opts)
                        n0 = sol.y[0].norm()
                        res.append(
                            (problem.error(sol.y[-1]), max(abs(y.norm() - n0) for y in sol.y) / n0)
                        )
                    return res

                out.append(Case((_label(m, opts), r), f"kusch24 {_label(m, opts)} r={r}", run))
        return out

    def assess(self, cfg: Config, outcomes: dict[Any, Outcome]) -> tuple[list[Row], list[Figure]]:
        problem, hs, _ = self._setup(cfg)
        rows: list[Row] = []
        fig, axes = _plot.subplots(2, width=5.2)
        for i, (lab, r) in enumerate(outcomes):
            out = outcomes[(lab, r)]
            pname = problem.name + f" [r = {r}]"
            if not out.ok:
                rows.append(Row.raised(self.name, lab, pname, "runs", out.error))
                continue
            errs = [e for e, _ in out.value]
            drift = [d for _, d in out.value]
            style = _plot.MARKERS[i % len(_plot.MARKERS)] + "-"
            axes[0].loglog(hs, errs, style, ms=4, label=f"{lab}, r = {r}")
            axes[1].loglog(hs, np.maximum(drift, 1e-17), style, ms=4, label=f"{lab}, r = {r}")
            note = (
                "errors "
                + ", ".join(fmt(e) for e in errs)
                + "; drift "
                + ", ".join(fmt(d) for d in drift)
            )
            if lab == "parallel_bug":
                slope = fit_slope(hs, errs, points=len(hs))
                rows.append(
                    Row(
                        self.name,
                        lab,
                        pname,
                        f"slope {slope:.2f}",
                        f"1 ± {self.first_order_tol:g}",
                        abs(slope - 1) <= self.first_order_tol,
                        note,
                    )
                )
                continue
            plateau = min(errs)
            pre = [(h, e) for h, e in zip(hs, errs, strict=True) if e > 2 * plateau]
            if len(pre) >= 2:
                slope = fit_slope([h for h, _ in pre], [e for _, e in pre], points=len(pre))
                measured, ok = f"slope {slope:.2f} before plateau", slope >= self.second_order_min
            else:
                measured, ok = "plateau from h_max on", True
            rows.append(
                Row(
                    self.name,
                    lab,
                    pname,
                    measured,
                    f"≥ {self.second_order_min:g} (second order)",
                    ok,
                    note,
                )
            )
            if lab.startswith("midpoint"):
                rows.append(
                    Row(
                        self.name,
                        lab,
                        pname + " [norm]",
                        f"max drift / min error {max(drift) / min(errs):.1e}",
                        "≤ 1e-2 (norm kept far better than the solution)",
                        max(drift) <= 1e-2 * min(errs),
                        note,
                    )
                )
            else:
                dslope = fit_slope(hs, drift, floor=1e-14, points=len(hs))
                rows.append(
                    Row(
                        self.name,
                        lab,
                        pname + " [norm]",
                        f"drift slope {dslope:.2f}",
                        "≥ 3",
                        dslope >= 3,
                        note,
                    )
                )
        for k, (ax, ylabel) in enumerate(
            ((axes[0], "relative error ‖Y_N − A(1)‖/‖A(1)‖"), (axes[1], "max relative norm drift"))
        ):
            lines = ax.get_lines()
            if lines:
                top = max(line.get_ydata()[0] for line in lines)
                for p in (1, 2, 3) if k == 0 else (1, 2, 3, 4):
                    _plot.reference_slope(ax, hs, 0.3 * top, p, label=f"h^{p}")
            ax.set_xlabel("step size h")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{problem.name}, N = {problem.n}, exact substeps", fontsize=9)
            _plot.legend(ax, fontsize=6)
            ax.grid(True, which="major", alpha=0.3)
        return rows, [
            _plot.save(
                fig,
                cfg,
                "kusch24_second_order",
                "Error and norm drift against h for the parallel and "
                "second-order integrators (T5).",
            )
        ]
