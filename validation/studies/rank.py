"""Rank study: the rank chosen by the rank-adaptive schemes over time (T4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import expectations as ex
from . import _plot
from ._framework import Case, Config, Figure, Outcome, Row, Study
from .conservation import adaptive_run, schrodinger_setup

__all__ = ["RankStudy"]

_ADAPTIVE = ("adaptive_bug", "parallel_bug")


@dataclass
class RankStudy(Study):
    """Rank adaptivity on the Schrödinger problem T4 (integrators.md §6 row 14; Ceruti, Kusch &
    Lubich 2022, §6.1, Fig. "rank vs t").

    From r₀ = 4 with ϑ = 10⁻⁶ (absolute) and r_max = 30, the rank-adaptive BUG and the parallel
    BUG must raise the rank (expected: max rank > r₀, never above r_max), and a smaller step size
    must not need a larger final rank (the truncation term nϑ per unit time shrinks with h;
    expected: final rank at the smallest h ≤ final rank at the largest h; our calibration:
    30, 27, 23, 18 for h = 0.1 … 0.01).
    """

    name = "rank"
    title = "Rank adaptivity (T4)"
    #: expected largest rank reached is above r₀ (True: the theory) or stays at r₀ (False)
    expect_growth: bool = True

    def cases(self, cfg: Config) -> list[Case]:
        problem, hs, tol, r0, rmax = schrodinger_setup(cfg)
        out = []
        for m in _ADAPTIVE:
            if not cfg.wants(m):
                continue
            for h in hs:

                def run(m: str = m, h: float = h) -> Any:
                    sol = adaptive_run(problem, m, cfg, h, tol, r0, rmax)
                    return list(sol.step_times), list(sol.step_ranks)

                out.append(Case((m, h), f"rank {m} h={h:g}", run))
        return out

    def assess(self, cfg: Config, outcomes: dict[Any, Outcome]) -> tuple[list[Row], list[Figure]]:
        problem, hs, tol, r0, rmax = schrodinger_setup(cfg)
        rows: list[Row] = []
        methods = [m for m in _ADAPTIVE if any((m, h) in outcomes for h in hs)]
        fig, axes = _plot.subplots(max(1, len(methods)), width=5.0)
        grows = f"grows above r₀ = {r0}" if self.expect_growth else f"stays at r₀ = {r0}"
        expected = f"{grows}, ≤ r_max = {rmax}; final rank non-increasing in 1/h"
        for j, m in enumerate(methods):
            res = [outcomes.get((m, h)) for h in hs]
            if any(o is None or not o.ok for o in res):
                err = next(o.error for o in res if o is not None and not o.ok)
                rows.append(Row.raised(self.name, m, problem.name, expected, err))
                continue
            finals, peaks = [], []
            for h, o in zip(hs, res, strict=True):
                t, ranks = o.value
                finals.append(ranks[-1])
                peaks.append(max(ranks))
                axes[j].step(t, ranks, where="post", label=f"h = {h:g}")
            grew = max(peaks) > r0
            ok = grew == self.expect_growth and max(peaks) <= rmax and finals[-1] <= finals[0]
            rows.append(
                Row(
                    self.name,
                    m,
                    problem.name,
                    f"final ranks {finals}",
                    expected,
                    ok,
                    f"h = {hs}; peak ranks {peaks}; ϑ = {tol:g}",
                )
            )
            axes[j].axhline(rmax, color="k", ls=":", lw=0.8, label="r_max")
            axes[j].set_xlabel("time t")
            axes[j].set_ylabel("rank")
            axes[j].set_title(f"{m}: {problem.name}, r₀ = {r0}, ϑ = {tol:g}", fontsize=9)
            _plot.legend(axes[j], fontsize=7)
            axes[j].grid(True, alpha=0.3)
        return rows, [_plot.save(fig, cfg, "rank", "Rank against time for several step sizes.")]


assert set(_ADAPTIVE) <= set(ex.TRUNCATING)
