"""Order study: error against step size, fitted slope compared with the order the theory claims."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import expectations as ex
from ..problems import make
from . import _plot
from ._framework import Case, Config, Figure, Outcome, Row, Study, fit_slope, fmt, integrate

__all__ = ["OrderStudy"]

#: method variants whose order is checked separately
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "midpoint_bug": [{"variant": "4r"}, {"variant": "3r"}],
    "parallel_bug2": [{"variant": "4r"}, {"variant": "3r"}],
}


def label(method: str, options: dict[str, Any]) -> str:
    extra = ",".join(str(v) for k, v in options.items() if k == "variant")
    return f"{method}[{extra}]" if extra else method


@dataclass
class OrderStudy(Study):
    """Convergence order of every matrix integrator on problems with zero (or tiny) modelling error.

    * BUG-type schemes: T2 in ODE form with data of exact rank r (``F(Y) = B₁Y + YB₂ᵀ`` is tangent,
      so ε = 0), exact (matrix-exponential) substeps, error against the exact solution.  KSL and
      Strang are *exact* on this problem (see the exactness study), so they are measured on
    * the same problem plus a small source ``δG`` (normal component ~δ = 10⁻²), by
      self-convergence ``‖Y_h − Y_{h/2}‖`` with one RK4 step per substep (the substep error is
      O(h⁵) and does not show).

    Slope: least squares of log error against log h over the smallest step sizes above round-off.
    Expected: the claimed order ±0.25 (first order) / ±0.3 (second order); for the augmented and
    rank-adaptive BUG only order ≥ 1 is proven (they show order 2 on tangent problems).
    Rank-adaptive runs use ϑ = h³ so that the truncation term nϑ = O(h²) stays below the error.
    """

    name = "order"
    title = "Convergence order"
    claims: dict[str, ex.OrderClaim] = field(default_factory=lambda: dict(ex.ORDER))

    def _setup(self, cfg: Config) -> tuple[Any, Any, list[float], int]:
        n = cfg.pick(30, 100, 100)
        rank = cfg.pick(4, 8, 8)
        hs = cfg.pick(
            [0.1, 0.05, 0.025],
            [0.1, 0.05, 0.025, 0.0125],
            [0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125],
        )
        tangent = make("prescribed-exact-ode", n=n, exact_rank=rank)
        normal = make("prescribed-source", n=n, exact_rank=rank, source=1e-2)
        return tangent, normal, hs, rank

    def _runs(self, cfg: Config) -> list[tuple[str, dict[str, Any], str]]:
        runs = []
        for m in ex.MATRIX_METHODS:
            if not cfg.wants(m):
                continue
            problem = "normal" if m in ("ksl", "strang") else "tangent"
            for opts in VARIANTS.get(m, [{}]):
                runs.append((m, opts, problem))
        return runs

    def cases(self, cfg: Config) -> list[Case]:
        tangent, normal, hs, rank = self._setup(cfg)
        out = []
        for m, opts, which in self._runs(cfg):
            problem = tangent if which == "tangent" else normal

            def run(m: str = m, opts: dict = opts, problem: Any = problem) -> Any:
                return _curve(problem, m, opts, cfg, hs, rank)

            out.append(Case((m, label(m, opts)), f"order {label(m, opts)}", run))
        return out

    def assess(self, cfg: Config, outcomes: dict[Any, Outcome]) -> tuple[list[Row], list[Figure]]:
        tangent, normal, hs, rank = self._setup(cfg)
        rows: list[Row] = []
        fig, axes = _plot.subplots(2)
        for m, opts, which in self._runs(cfg):
            key = (m, label(m, opts))
            out = outcomes.get(key)
            problem = tangent if which == "tangent" else normal
            pname = problem.name + ("" if which == "tangent" else " [self-convergence]")
            claim = self.claims[m]
            if out is None or not out.ok:
                rows.append(
                    Row.raised(
                        self.name, key[1], pname, claim.describe(), out.error if out else "not run"
                    )
                )
                continue
            h_used, errs = out.value
            floor = 1e-12 * max(problem.scale(), 1.0)
            slope = fit_slope(h_used, errs, floor=floor)
            ok = bool(np.isfinite(slope)) and claim.holds(slope)
            rows.append(
                Row(
                    self.name,
                    key[1],
                    pname,
                    f"slope {slope:.2f}",
                    claim.describe(),
                    ok,
                    f"errors {', '.join(fmt(e) for e in errs)}; {claim.source}",
                )
            )
            ax = axes[0 if which == "tangent" else 1]
            marker = _plot.MARKERS[len(ax.get_lines()) % len(_plot.MARKERS)]
            ax.loglog(h_used, errs, marker + "-", ms=4, alpha=0.85, label=key[1])
        for ax, title, ylabel in (
            (axes[0], f"{tangent.name}, r = {rank}, exact substeps", "error ‖Y_N − A(T)‖_F"),
            (axes[1], f"{normal.name}, r = {rank}, RK4 substeps", "‖Y_h(T) − Y_{h/2}(T)‖_F"),
        ):
            lines = ax.get_lines()
            if lines:
                top = max(max(line.get_ydata()) for line in lines)
                bottom = min(min(line.get_ydata()) for line in lines)
                _plot.reference_slope(ax, hs, top, 1, label="slope 1")
                _plot.reference_slope(ax, hs, bottom * (max(hs) / min(hs)) ** 2, 2, label="slope 2")
            ax.set_xlabel("step size h")
            ax.set_ylabel(ylabel)
            ax.set_title(title, fontsize=9)
            _plot.legend(ax, fontsize=7)
            ax.grid(True, which="both", alpha=0.3)
        figure = _plot.save(
            fig,
            cfg,
            "order_matrix",
            "Error against step size (left: exact solution, ε = 0; right: "
            "self-convergence with a small normal component).",
        )
        return rows, [figure]


def _curve(
    problem: Any, method: str, opts: dict[str, Any], cfg: Config, hs: list[float], rank: int
) -> tuple[list[float], list[float]]:
    """Errors against the exact solution (problems without source) or self-convergence
    ``‖Y_h − Y_{h/2}‖`` (problems with source; one more run at the smallest h/2)."""
    import dlra

    kw = dict(opts)
    tolerant = method in ("adaptive_bug",)
    if getattr(problem, "source", 0.0):
        hh = [*hs, hs[-1] / 2]
        ys = [
            integrate(problem, method, cfg, h=h, rank=rank, substep=dlra.RK4(), **kw).y[-1]
            for h in hh
        ]
        return list(hs), [ys[i].distance(ys[i + 1]) for i in range(len(hs))]
    errs = []
    for h in hs:
        if tolerant:
            kw["tol"] = h**3
        sol = integrate(problem, method, cfg, h=h, rank=rank, **kw)
        errs.append(problem.error(sol.y[-1]))
    return list(hs), errs
