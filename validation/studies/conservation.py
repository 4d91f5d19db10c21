"""Conservation study: norm and energy on the Schrödinger problem T4."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import expectations as ex
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

__all__ = ["ConservationStudy", "schrodinger_setup"]


def schrodinger_setup(cfg: Config) -> tuple[Any, list[float], float, int, int]:
    """T4 and the runs shared by the conservation and rank studies: ``(problem, hs, ϑ, r₀, r_max)``."""
    problem = shared_problem("schrodinger", n=cfg.pick(40, 100, 100))
    hs = cfg.pick(
        [0.1, 0.05], [0.1, 0.05, 0.02, 0.01], [0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001]
    )
    return problem, hs, 1e-6, 4, cfg.pick(20, 30, 30)


def adaptive_run(
    problem: Any, method: str, cfg: Config, h: float, tol: float, r0: int, rmax: int
) -> Any:
    """The rank-adaptive run of ``method`` on T4 with exact substeps, every step saved."""
    return integrate(problem, method, cfg, h=h, rank=r0, tol=tol, max_rank=rmax, save_at="steps")


@dataclass
class ConservationStudy(Study):
    """Norm and energy conservation on the Dirichlet Schrödinger problem T4 (integrators.md §6
    rows 9–11), with exact (exponential) substeps so that the Galerkin step is unitary.

    * rank-adaptive BUG (r₀ = 4, ϑ = 10⁻⁶, r_max = 30): the Galerkin step conserves ‖Ŝ‖ and the
      energy, truncation moves Y by ≤ ϑ, so expected ``max |‖Yₙ‖ − ‖Y₀‖| ≤ nϑ`` and
      ``max |E(Yₙ) − E(Y₀)| ≤ 2‖H‖‖Y₀‖·nϑ`` (Ceruti, Kusch & Lubich 2022).
    * fixed-rank BUG and parallel BUG (r = 12): *not* conservative; the maximal norm drift over
      [0, 1] is O(h): expected fitted slope 1 ± 0.25 (``drift_tol``) against h (and a drift above 10⁻⁶).
    * midpoint BUG and the second-order parallel integrator (fixed rank 12): reported for
      information (their drift comes from the rank-r truncation).
    """

    name = "conservation"
    title = "Norm and energy conservation (T4)"
    conserving: frozenset[str] = field(default_factory=lambda: ex.CONSERVING)
    drifting: frozenset[str] = field(default_factory=lambda: ex.DRIFTING)
    drift_order: float = 1.0
    drift_tol: float = 0.25

    def cases(self, cfg: Config) -> list[Case]:
        problem, hs, tol, r0, rmax = schrodinger_setup(cfg)
        fixed = cfg.pick(8, 12, 12)
        out = []
        for m in ex.MATRIX_METHODS:
            if not cfg.wants(m) or m in ("ksl", "strang", "augmented_bug"):
                continue
            for h in hs:
                if m == "adaptive_bug":

                    def run(m: str = m, h: float = h) -> Any:
                        return _drifts(problem, adaptive_run(problem, m, cfg, h, tol, r0, rmax))
                else:

                    def run(m: str = m, h: float = h) -> Any:
                        sol = integrate(problem, m, cfg, h=h, rank=fixed, save_at="steps")
                        return _drifts(problem, sol)

                out.append(Case((m, h), f"conservation {m} h={h:g}", run))
        return out

    def assess(self, cfg: Config, outcomes: dict[Any, Outcome]) -> tuple[list[Row], list[Figure]]:
        problem, hs, tol, _, _ = schrodinger_setup(cfg)
        hnorm = problem.operator_norm()
        rows: list[Row] = []
        fig, axes = _plot.subplots(2, width=5.2)
        methods = sorted({k[0] for k in outcomes}, key=list(ex.MATRIX_METHODS).index)
        for i, m in enumerate(methods):
            res = {h: outcomes[(m, h)] for h in hs if (m, h) in outcomes}
            bad = [o for o in res.values() if not o.ok]
            if bad:
                rows.append(Row.raised(self.name, m, problem.name, "runs", bad[0].error))
                continue
            norm_d = [res[h].value["norm"] for h in hs]
            energy_d = [res[h].value["energy"] for h in hs]
            steps = [res[h].value["steps"] for h in hs]
            style = _plot.MARKERS[i % len(_plot.MARKERS)] + "-"
            axes[1].loglog(hs, [max(d, 1e-17) for d in norm_d], style, ms=4, label=f"{m} norm")
            hmin = min(hs)
            t, dn = res[hmin].value["t"], res[hmin].value["norm_t"]
            axes[0].semilogy(t, [max(d, 1e-17) for d in dn], "-", label=m)
            detail = ", ".join(
                f"h={h:g}: {fmt(a)} / {fmt(b)}"
                for h, a, b in zip(hs, norm_d, energy_d, strict=True)
            )
            if m in self.conserving:
                norm_ok = all(d <= n * tol for d, n in zip(norm_d, steps, strict=True))
                energy_ok = all(
                    d <= 2 * hnorm * res[h].value["norm0"] * n * tol
                    for d, n, h in zip(energy_d, steps, hs, strict=True)
                )
                rows.append(
                    Row(
                        self.name,
                        m,
                        problem.name + " [norm]",
                        f"max drift {fmt(max(norm_d))}",
                        f"≤ nϑ (ϑ = {tol:g})",
                        norm_ok,
                        "norm / energy drift: " + detail,
                    )
                )
                rows.append(
                    Row(
                        self.name,
                        m,
                        problem.name + " [energy]",
                        f"max drift {fmt(max(energy_d))}",
                        f"≤ 2‖H‖‖Y₀‖nϑ (‖H‖ ≤ {hnorm:.2f})",
                        energy_ok,
                        "norm / energy drift: " + detail,
                    )
                )
            else:
                slope = fit_slope(hs, norm_d, floor=1e-13)
                if m in self.drifting:
                    within = abs(slope - self.drift_order) <= self.drift_tol
                    ok: bool | None = within and min(norm_d) > 1e-6
                    expected = (
                        f"drift O(h): slope {self.drift_order:g} ± {self.drift_tol:g}, > 1e-6"
                    )
                else:
                    ok, expected = None, "—"
                rows.append(
                    Row(
                        self.name,
                        m,
                        problem.name + " [norm]",
                        f"drift slope {slope:.2f}, max {fmt(max(norm_d))}",
                        expected,
                        ok,
                        "norm / energy drift: " + detail,
                    )
                )
        axes[0].set_xlabel("time t")
        axes[0].set_ylabel("|‖Y(t)‖ − ‖Y₀‖|")
        axes[0].set_title(f"{problem.name}, h = {min(hs):g}, exact substeps", fontsize=9)
        axes[1].set_xlabel("step size h")
        axes[1].set_ylabel("max_n |‖Yₙ‖ − ‖Y₀‖|")
        axes[1].set_title("norm drift against h", fontsize=9)
        lines = axes[1].get_lines()
        if lines:
            _plot.reference_slope(
                axes[1], hs, 0.5 * max(line.get_ydata()[0] for line in lines), 1, label="slope 1"
            )
        for ax in axes:
            _plot.legend(ax, fontsize=7)
            ax.grid(True, which="major", alpha=0.3)
        return rows, [
            _plot.save(
                fig, cfg, "conservation", "Norm drift over time and against the step size (T4)."
            )
        ]


def _drifts(problem: Any, sol: Any) -> dict[str, Any]:
    n0 = sol.y[0].norm()
    e0 = problem.energy(sol.y[0])
    dn = [abs(y.norm() - n0) for y in sol.y]
    de = [abs(problem.energy(y) - e0) for y in sol.y]
    return {
        "norm": float(np.max(dn)),
        "energy": float(np.max(de)),
        "steps": len(sol.y) - 1,
        "t": list(sol.t),
        "norm_t": dn,
        "norm0": n0,
    }
