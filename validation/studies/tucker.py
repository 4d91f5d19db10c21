"""Tucker study: exactness, convergence order and conservation of the Tucker integrators."""

from __future__ import annotations

import math
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

__all__ = ["TuckerStudy"]


@dataclass
class TuckerStudy(Study):
    """The matrix claims for the Tucker integrators (order-3 tensors; integrators.md §3, §6 rows
    1, 2, 4, 5, 9; Lubich, Vandereycken & Walach 2018; Ceruti & Lubich 2022; Ceruti, Kusch & Lubich
    2022; Ceruti, Kusch, Lubich & Sulz 2024).

    * **Exactness** — T6 explicit data ``eᵗ C₀ ×ᵢ e^{tWᵢ}`` of multilinear rank (4, 4, 4): Tucker
      projector splitting (KSL, Strang), BUG, augmented and rank-adaptive BUG exact (≤ 10⁻¹²‖A‖);
      parallel BUG, midpoint BUG and second-order parallel not exact (≥ 10³ × that, decreasing
      in h).  Also KSL/Strang on the tangent linear ODE form (exact substeps).
    * **Order** — the same solution as the tangent linear ODE ``Y ×₁ (W₁ + I) + Y ×₂ W₂ + Y ×₃ W₃``
      (ε = 0) with exact substeps: the claimed orders of :data:`validation.expectations.ORDER`.
    * **Conservation** — 3-D Schrödinger with a cosine potential: rank-adaptive Tucker BUG
      (ϑ = 10⁻⁶, r₀ = 3) keeps the norm within n·√d·ϑ (HOSVD truncation moves Y by ≤ √d·ϑ);
      fixed-rank Tucker BUG drifts well above it (reported).
    """

    name = "tucker"
    title = "Tucker integrators"
    exact: frozenset[str] = field(default_factory=lambda: ex.EXACT)
    not_exact: frozenset[str] = field(default_factory=lambda: ex.NOT_EXACT)
    claims: dict[str, ex.OrderClaim] = field(default_factory=lambda: dict(ex.ORDER))

    def _setup(self, cfg: Config) -> dict[str, Any]:
        n = cfg.pick(10, 20, 30)
        return {
            "data": shared_problem("tucker-rotating", n=n),
            "ode": shared_problem("tucker-rotating-ode", n=n),
            "schr": shared_problem("tucker-schrodinger", n=cfg.pick(10, 16, 30)),
            "r": 4,
            "hs_exact": cfg.pick([0.1], [0.1, 0.05], [0.1, 0.05, 0.025]),
            "hs": cfg.pick(
                [0.1, 0.05, 0.025], [0.1, 0.05, 0.025, 0.0125], [0.1, 0.05, 0.025, 0.0125, 0.00625]
            ),
            "h_schr": cfg.pick(0.1, 0.05, 0.01),
        }

    def cases(self, cfg: Config) -> list[Case]:
        s = self._setup(cfg)
        out = []
        for m in ex.MATRIX_METHODS:
            if not cfg.wants(m):
                continue

            def exact_run(m: str = m) -> Any:
                res = {}
                for key in ("data", "ode") if m in ("ksl", "strang") else ("data",):
                    p = s[key]
                    res[key] = [_error(p, m, cfg, h, s["r"], 1e-10) for h in s["hs_exact"]]
                return res

            out.append(Case((m, "exact"), f"tucker exactness {m}", exact_run))
            if m not in ("ksl", "strang"):
                out.append(
                    Case(
                        (m, "order"),
                        f"tucker order {m}",
                        lambda m=m: [_error(s["ode"], m, cfg, h, s["r"], h**3) for h in s["hs"]],
                    )
                )
            if m in ("bug", "adaptive_bug"):
                out.append(
                    Case(
                        (m, "conservation"),
                        f"tucker conservation {m}",
                        lambda m=m: _drift(s["schr"], m, cfg, s["h_schr"]),
                    )
                )
        return out

    def assess(self, cfg: Config, outcomes: dict[Any, Outcome]) -> tuple[list[Row], list[Figure]]:
        s = self._setup(cfg)
        rows: list[Row] = []
        fig, axes = _plot.subplots(2, width=5.2)
        for i, m in enumerate(ex.MATRIX_METHODS):
            for part in ("exact", "order", "conservation"):
                out = outcomes.get((m, part))
                if out is None:
                    continue
                if not out.ok:
                    rows.append(Row.raised(self.name, m, f"Tucker {part}", "runs", out.error))
                    continue
                if part == "exact":
                    rows += self._exact_rows(m, s, out.value)
                elif part == "order":
                    errs = out.value
                    claim = self.claims[m]
                    slope = fit_slope(s["hs"], errs, floor=1e-12 * s["ode"].scale())
                    ok = bool(np.isfinite(slope)) and claim.holds(slope)
                    rows.append(
                        Row(
                            self.name,
                            m,
                            s["ode"].name,
                            f"slope {slope:.2f}",
                            claim.describe(),
                            ok,
                            "errors " + ", ".join(fmt(e) for e in errs),
                        )
                    )
                    axes[0].loglog(s["hs"], errs, _plot.MARKERS[i % 10] + "-", ms=4, label=m)
                else:
                    t, drift, steps, tol = out.value
                    axes[1].semilogy(t, np.maximum(drift, 1e-17), label=m)
                    if m in ex.CONSERVING:
                        bound = steps * math.sqrt(3) * tol
                        rows.append(
                            Row(
                                self.name,
                                m,
                                s["schr"].name + " [norm]",
                                f"max drift {fmt(max(drift))}",
                                f"≤ n√dϑ = {fmt(bound)}",
                                max(drift) <= bound,
                                f"h = {s['h_schr']:g}, ϑ = {tol:g}",
                            )
                        )
                    else:
                        rows.append(
                            Row(
                                self.name,
                                m,
                                s["schr"].name + " [norm]",
                                f"max drift {fmt(max(drift))}",
                                "—",
                                None,
                                f"fixed rank, h = {s['h_schr']:g}",
                            )
                        )
        lines = axes[0].get_lines()
        if lines:
            first = [line.get_ydata()[0] for line in lines]
            _plot.reference_slope(axes[0], s["hs"], 0.3 * max(first), 1)
            _plot.reference_slope(axes[0], s["hs"], 0.3 * min(first), 2)
        axes[0].set_xlabel("step size h")
        axes[0].set_ylabel("error ‖Y_N − A(1)‖_F")
        axes[0].set_title(f"{s['ode'].name}, n = {s['ode'].n}, exact substeps", fontsize=9)
        axes[1].set_xlabel("time t")
        axes[1].set_ylabel("|‖Y(t)‖ − ‖Y₀‖|")
        axes[1].set_title(f"{s['schr'].name}, n = {s['schr'].n}, h = {s['h_schr']:g}", fontsize=9)
        for ax in axes:
            _plot.legend(ax, fontsize=7)
            ax.grid(True, which="major", alpha=0.3)
        return rows, [
            _plot.save(
                fig,
                cfg,
                "tucker",
                "Tucker integrators: error against h on the "
                "tangent ODE (left), norm drift on the 3-D Schrödinger problem "
                "(right).",
            )
        ]

    def _exact_rows(self, m: str, s: dict[str, Any], value: dict[str, list[float]]) -> list[Row]:
        rows = []
        for key, errs in value.items():
            p = s[key]
            thr = ex.EXACT_TOL * p.scale()
            hs = s["hs_exact"]
            note = "errors " + ", ".join(
                f"{fmt(e)} (h={h:g})" for h, e in zip(hs, errs, strict=True)
            )
            if m in self.exact:
                rows.append(
                    Row(
                        self.name,
                        m,
                        p.name,
                        f"max error {fmt(max(errs))}",
                        f"≤ {fmt(thr)}",
                        max(errs) <= thr,
                        note,
                    )
                )
            elif m in self.not_exact:
                ok = errs[0] >= 1e3 * thr and (len(errs) < 2 or thr < errs[-1] < errs[0])
                rows.append(
                    Row(
                        self.name,
                        m,
                        p.name,
                        f"max error {fmt(max(errs))}",
                        f"≥ {fmt(1e3 * thr)} at h_max, decreasing in h",
                        ok,
                        note,
                    )
                )
        return rows


def _error(problem: Any, method: str, cfg: Config, h: float, r: int, tol: float) -> float:
    kw = {"tol": tol} if method == "adaptive_bug" else {}
    sol = integrate(problem, method, cfg, h=h, rank=r, **kw)
    return problem.error(sol.y[-1])


def _drift(problem: Any, method: str, cfg: Config, h: float) -> Any:
    tol = 1e-6
    if method == "adaptive_bug":
        sol = integrate(
            problem,
            method,
            cfg,
            h=h,
            rank=3,
            tol=tol,
            max_rank=cfg.pick(6, 12, 20),
            save_at="steps",
        )
    else:
        sol = integrate(problem, method, cfg, h=h, rank=cfg.pick(4, 6, 8), save_at="steps")
    n0 = sol.y[0].norm()
    return list(sol.t), [abs(y.norm() - n0) for y in sol.y], len(sol.y) - 1, tol
