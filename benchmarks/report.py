"""Turns the campaign's records into ``docs/benchmarks.md`` and its PNG plots.

Everything here reads the records only (no measurement), so the page can be rebuilt from the JSON
file: ``python benchmarks/run_benchmarks.py --from-json docs/img/benchmarks/results.json``.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import dlra
from validation.expectations import MATRIX_METHODS

from .measure import fit_slope, human_bytes, human_time

#: order of the methods in tables and legends: the validation tables' order
ORDER = list(MATRIX_METHODS)


def _order_of(method: str) -> int | None:
    """Proven/established order of a matrix method (``Integrator.order``), None if unknown."""
    cls = dlra.INTEGRATORS.get(method)
    return None if cls is None else cls.order


Record = dict[str, Any]


def _sorted_methods(records: Sequence[Record]) -> list[str]:
    present = {r["method"] for r in records}
    return [m for m in ORDER if m in present] + sorted(present - set(ORDER))


def _by(records: Sequence[Record], *keys: str) -> dict[tuple, Record]:
    return {tuple(r[k] for k in keys): r for r in records}


def _pow2(n: int) -> str:
    k = math.log2(n)
    return f"2^{int(k)}" if k == int(k) else str(n)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# -- fitted exponents -------------------------------------------------------------------------------
def slopes(records: Sequence[Record], x: str, *, x_min: float = 0, x_max: float = math.inf) -> dict:
    """Fitted exponent of time against ``x`` (``"n"`` or ``"r"``) per method, on ``[x_min, x_max]``."""
    out = {}
    for method in _sorted_methods(records):
        pts = [
            (r[x], r["time"])
            for r in records
            if r["method"] == method and x_min <= r[x] <= x_max and r["time"] > 0
        ]
        if len(pts) >= 2:
            out[method] = fit_slope([p[0] for p in pts], [p[1] for p in pts])
    return out


# -- plots --------------------------------------------------------------------------------------------
def plot_scan(
    records: Sequence[Record],
    x: str,
    path: str,
    *,
    title: str,
    fit_range: tuple[float, float],
    floor_method: str | None = "bug",
) -> None:
    """Log–log time per step against ``x`` with the fitted slopes in the legend (dashed lines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    fits = slopes(records, x, x_min=fit_range[0], x_max=fit_range[1])
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, method in enumerate(_sorted_methods(records)):
        pts = sorted((r[x], r["time"]) for r in records if r["method"] == method)
        xs, ys = np.array([p[0] for p in pts], float), np.array([p[1] for p in pts])
        color = colors[i % len(colors)]
        label = method
        if method in fits:
            slope, intercept = fits[method]
            label += f" (slope {slope:.2f})"
            xf = xs[(xs >= fit_range[0]) & (xs <= fit_range[1])]
            ax.plot(xf, np.exp(intercept) * xf**slope, "--", color=color, lw=0.8)
        ax.plot(xs, ys, "o-", color=color, label=label, ms=4)
    if floor_method is not None:
        pts = sorted(
            (r[x], r["floor"]) for r in records if r["method"] == floor_method and r.get("floor")
        )
        if pts:
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                "k:",
                lw=1.5,
                label=f"traffic floor of {floor_method}",
            )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel("time per step [s]")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def work_precision(records: dict[str, list[Record]]) -> list[Record]:
    """Error at T (T4 Schrödinger) against the cost of the run at large n: steps × time per step of
    the same method on the Schrödinger benchmark of the largest measured n."""
    acc = records.get("accuracy", [])
    sch = records.get("schrodinger", [])
    if not acc or not sch:
        return []
    n_max = max(r["n"] for r in sch)
    per_step = {r["method"]: r["time"] for r in sch if r["n"] == n_max}
    out = []
    for r in acc:
        if r["method"] in per_step:
            out.append({**r, "cost": r["steps"] * per_step[r["method"]], "n": n_max})
    return out


def plot_work_precision(points: Sequence[Record], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    for method in _sorted_methods(points):
        pts = sorted((r["cost"], r["error"]) for r in points if r["method"] == method)
        style = "s-" if _order_of(method) == 2 else "o-"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=method, ms=4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"time for the run at n = {_pow2(points[0]['n'])} [s]")
    ax.set_ylabel("error at T (T4 Schrödinger, N = 100)")
    ax.set_title("work–precision: error against cost (lower left is better)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- the page -------------------------------------------------------------------------------------------
def write_report(
    records: dict[str, list[Record]],
    env: dict[str, Any],
    orthonormality: float,
    out: str,
    img_dir: str,
    plan: Any,
) -> str:
    """Write the Markdown page (and plots into ``img_dir``); returns the page text."""
    os.makedirs(img_dir, exist_ok=True)
    rel = os.path.relpath(img_dir, os.path.dirname(os.path.abspath(out)))
    parts: list[str] = [_header(env, _shown_path(os.path.join(img_dir, "results.json")))]
    goals: list[tuple[str, str, str]] = []

    n_scan = records.get("n_scan", [])
    if n_scan:
        plot_scan(
            n_scan,
            "n",
            os.path.join(img_dir, "time_vs_n.png"),
            title=f"heat, float64, r = {n_scan[0]['r']}: time per step against n",
            fit_range=(2**12, 2**20),
        )
        parts.append(_n_section(n_scan, rel, goals))
    r_scan = records.get("r_scan", [])
    if r_scan:
        plot_scan(
            r_scan,
            "r",
            os.path.join(img_dir, "time_vs_r.png"),
            title=f"heat, float64, n = {_pow2(r_scan[0]['n'])}: time per step against r",
            fit_range=(16, 128),
        )
        parts.append(_r_section(r_scan, rel))
    if records.get("overhead"):
        parts.append(
            _overhead_section(records["overhead"], goals, records.get("overhead_fixed", []))
        )
    if records.get("compare"):
        parts.append(_compare_section(records["compare"], records.get("dense", []), goals))
    if n_scan and any(x["n"] >= 2**16 for x in n_scan):
        parts.append(_floor_goal(n_scan, goals))
    if records.get("threads"):
        parts.append(_threads_section(records["threads"]))
    if records.get("schrodinger"):
        parts.append(
            _simple_section(
                "Schrödinger-type problem (complex128)",
                records["schrodinger"],
                "Terms `(D, None), (None, D), (V, V)` with coefficients −i: two sparse and two "
                "small products per field evaluation (the floor counts them).",
            )
        )
    if records.get("graded"):
        parts.append(_graded_section(records["graded"], n_scan))
    if records.get("precision"):
        parts.append(_precision_section(records["precision"]))
    if records.get("torch"):
        parts.append(_backend_section(records["torch"], "torch", "torch (CPU, sparse CSR)"))
    if records.get("cuda"):
        parts.append(_backend_section(records["cuda"], "cuda", "CUDA", goals=goals))
    else:
        parts.append(
            "## CUDA\n\nNot measured: no GPU was available on the machine of this run.  The "
            "script measures the `cuda` section (heat, n = 2^16 and 2^20, r = 64, against "
            "numpy in the same run, time with `torch.cuda.synchronize()`, memory with "
            "`torch.cuda.max_memory_allocated`) whenever `torch.cuda.is_available()`; the goal "
            "of ≥ 10× over numpy at n = 2^20, r = 64 is therefore open.\n"
        )
        goals.append(("CUDA ≥ 10× faster than numpy at n = 2^20, r = 64", "not measured", "–"))
    if records.get("tucker"):
        parts.append(_tucker_section(records["tucker"]))
    wp = work_precision(records)
    if wp:
        plot_work_precision(wp, os.path.join(img_dir, "work_precision.png"))
        parts.append(_guidance_section(wp, rel, records.get("compare", [])))
    ok = orthonormality <= 1e-12
    goals.append(
        (
            "orthonormality ‖UᴴU − I‖ ≤ 1e-12 after every measured float64 step",
            f"max {orthonormality:.1e}",
            "met" if ok else "not met",
        )
    )
    parts.insert(1, _goals_table(goals))
    parts.append(_method_notes(plan))
    text = "\n\n".join(p.strip() for p in parts) + "\n"
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(text)
    return text


def _shown_path(path: str) -> str:
    """``path`` relative to the repository root when it lies inside it, else absolute."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    full = os.path.abspath(path)
    inside = os.path.commonpath([root, full]) == root
    return os.path.relpath(full, root) if inside else full


def _header(env: dict[str, Any], records: str) -> str:
    cuda = env.get("cuda") or "none"
    remeasured = (
        f"\n| Tucker section re-measured | {env['tucker_remeasured']} (after a change to the Tucker "
        "midpoint BUG; same machine, same settings) |"
        if env.get("tucker_remeasured")
        else ""
    )
    return f"""# Benchmarks

Time and memory per step of every integrator on `LinearField` problems with sparse operators,
against the memory-traffic floor of a step and against dense RK4 integration, measured in one run
of `benchmarks/run_benchmarks.py` (regenerate this page with
`python benchmarks/run_benchmarks.py`; the raw records are in
`{records}`).

| | |
|---|---|
| date | {env.get("date")} |
| machine | {env.get("cpu")}, {env.get("cores")} cores, {env.get("memory_gib")} GiB |
| BLAS threads used | {env.get("threads")} ({env.get("blas")}) |
| load average (1 min) before / after | {env.get("load_before", 0):.1f} / {env.get("load_after", 0):.1f} |
| GPU | {cuda} |
| versions | dlra {env.get("dlra")}, Python {env.get("python")}, numpy {env.get("numpy")}, scipy {env.get("scipy")}, torch {env.get("torch")} |
| wall time of the run | {env.get("duration_s", 0) / 60:.1f} min |{remeasured}

Timings are the minimum over repeated steps from the same state (at least two; at n ≥ 2^19 two or
three, as the time budget allows; the counts are in `results.json`) — the machine is shared, and the minimum is the least disturbed run.  Every step uses RK4
substeps (the default) except the rows marked `lsrk4` (`dlra.LowStorageRK4`); `adaptive_bug` runs with `rtol = 1e-8`, which keeps the rank of the
benchmark states.  Initial states have random orthonormal factors and singular values
10^(−3j/r); problems: `benchmarks/problems.py`."""


def _goals_table(goals: list[tuple[str, str, str]]) -> str:
    rows = [list(g) for g in goals]
    return "## Goals of issue 6\n\n" + _table(["goal", "measured", "status"], rows)


def _n_section(recs: list[Record], rel: str, goals: list) -> str:
    fits = slopes(recs, "n", x_min=2**12, x_max=2**20)
    ns = sorted({r["n"] for r in recs})
    idx = _by(recs, "method", "n")
    rows = []
    for m in _sorted_methods(recs):
        row = [m] + [human_time(idx[(m, n)]["time"]) if (m, n) in idx else "–" for n in ns]
        row.append(f"{fits[m][0]:.2f}" if m in fits else "–")
        rows.append(row)
    worst = max(fits.values(), key=lambda f: f[0])[0] if fits else float("nan")
    best = min(fits.values(), key=lambda f: f[0])[0] if fits else float("nan")
    goals.append(
        (
            "time linear in n: fitted exponent ≤ 1.15 from 2^12 to 2^20 (r fixed)",
            f"{best:.2f} … {worst:.2f}",
            "met" if worst <= 1.15 else "not met",
        )
    )
    mem_rows = []
    for m in _sorted_methods(recs):
        mem_rows.append(
            [m]
            + [human_bytes(idx[(m, n)]["memory"]) if (m, n) in idx else "–" for n in ns]
            + [
                f"{idx[(m, ns[-1])]['memory'] / (8 * ns[-1] * recs[0]['r']):.1f}"
                if (m, ns[-1]) in idx and idx[(m, ns[-1])]["memory"]
                else "–"
            ]
        )
    r = recs[0]["r"]
    return (
        f"## Scaling in n (heat, float64, r = {r})\n\n"
        f"![time per step against n]({rel}/time_vs_n.png)\n\n"
        + _table(["method", *(_pow2(n) for n in ns), "exponent (2^12–2^20)"], rows)
        + "\n\nPeak memory of a step beyond its input (tracemalloc, plus the scratch blocks the "
        "integrator kept from its previous step: its workspace, docs/conventions.md); the last "
        "column is the peak "
        f"in units of one n × r block at n = {_pow2(ns[-1])}:\n\n"
        + _table(["method", *(_pow2(n) for n in ns), "blocks"], mem_rows)
    )


def _r_section(recs: list[Record], rel: str) -> str:
    fits = slopes(recs, "r", x_min=16, x_max=128)
    rs = sorted({r["r"] for r in recs})
    idx = _by(recs, "method", "r")
    rows = []
    for m in _sorted_methods(recs):
        row = [m] + [human_time(idx[(m, r)]["time"]) if (m, r) in idx else "–" for r in rs]
        row.append(f"{fits[m][0]:.2f}" if m in fits else "–")
        rows.append(row)
    n = recs[0]["n"]
    return (
        f"## Scaling in r (heat, float64, n = {_pow2(n)})\n\n"
        f"![time per step against r]({rel}/time_vs_r.png)\n\n"
        + _table(["method", *(f"r = {r}" for r in rs), "exponent (16–128)"], rows)
        + "\n\nThe cost model is O(n r²) for the orthonormalisations and small products plus "
        "O(nnz(A) r) for the sparse products: at small r the sparse products and the Python "
        "overhead dominate (exponent below 1), at large r the n r² terms (exponent towards 2). "
        "The second-order methods work on blocks of width 2r–4r."
    )


def _overhead_section(recs: list[Record], goals: list, fixed: list[Record]) -> str:
    """The small-n step times; with ``fixed`` (the same steps at a tiny n), each step split
    into its fixed part and the part that grows with n."""
    idx = _by(recs, "method")
    fixed_idx = _by(fixed, "method")
    n, r = recs[0]["n"], recs[0]["r"]
    rows = []
    for m in _sorted_methods(recs):
        x, row = idx[(m,)], [m, human_time(idx[(m,)]["time"]), idx[(m,)]["nfev"]]
        if fixed:
            f = fixed_idx.get((m,))
            row += (
                [human_time(f["time"]), human_time(max(x["time"] - f["time"], 0.0))]
                if f
                else ["–", "–"]
            )
        rows.append(row)
    worst = max(x["time"] for x in recs)
    first = [x["time"] for x in recs if _order_of(x["method"]) == 1]
    goals.append(
        (
            f"step ≤ 1 ms at n = {_pow2(n)}, r = {r} (Python overhead)",
            f"{human_time(min(x['time'] for x in recs))} … {human_time(worst)}"
            + (f" (first-order methods ≤ {human_time(max(first))})" if first else "")
            + (
                f"; fixed part (the step at n = {_pow2(fixed[0]['n'])}) "
                f"≤ {human_time(max(x['time'] for x in fixed))}"
                if fixed
                else ""
            ),
            "met" if worst <= 1e-3 else ("met for " + _met_list(recs, 1e-3)),
        )
    )
    note = (
        "\n\nTimed first in this run's process, which has imported torch.  A process that has "
        "not loses more to fresh memory pages at this size; since the workspace keeps blocks "
        "from 128 KiB both take the same time (docs/conventions.md, the workspace)."
    )
    header = ["method", "time per step", "field evaluations"]
    if fixed:
        nf = fixed[0]["n"]
        header += [f"fixed part (the step at n = {_pow2(nf)})", "part that grows with n"]
        note += (
            f"\n\nThe fixed part is the same step at n = {_pow2(nf)}, where the n-row blocks "
            "cost next to nothing: the Python of the step, the LAPACK calls on its small cores "
            "and factors, and the call overhead of each product.  The rest is the BLAS work on the "
            f"n × w blocks (w = r for the first-order methods, up to 2r–4r for the augmented and "
            "second-order ones): at this n it is real arithmetic, not overhead."
        )
    return (
        f"## Small problems: overhead (heat, n = {_pow2(n)}, r = {r})\n\n"
        + _table(header, rows)
        + note
    )


def _met_list(recs: list[Record], limit: float) -> str:
    ok = [x["method"] for x in recs if x["time"] <= limit]
    return ", ".join(ok) if ok else "none"


def _substep(record: Record) -> str:
    """The substep solver of a step record (records written before it was recorded used RK4)."""
    return record.get("substep", "rk4")


def _compare_section(recs: list[Record], dense: list[Record], goals: list) -> str:
    n, r = recs[0]["n"], recs[0]["r"]
    variants: dict[str, list[Record]] = defaultdict(list)
    for d in dense:
        variants[d["variant"]].append(d)
    est: dict[str, dict[str, Any]] = {}
    lines = []
    for variant, ds in variants.items():
        ds = sorted(ds, key=lambda d: d["n"])
        measured = [d for d in ds if d["n"] == n]
        if measured:
            est[variant] = {
                "time": measured[0]["time"],
                "memory": measured[0]["memory"],
                "how": "measured",
            }
        else:
            # both time and memory of a dense step are exactly O(n²) here (sparse L, n × n arrays):
            # extrapolate from the largest measured size
            top = ds[-1]
            f = (n / top["n"]) ** 2
            est[variant] = {
                "time": top["time"] * f,
                "memory": top["memory"] * f,
                "how": f"extrapolated ×{f:.0f} from n = {top['n']}",
            }
        lines.append(
            f"Dense RK4, {variant}:\n\n"
            + _table(
                ["n", "time per step", "peak memory"],
                [[d["n"], human_time(d["time"]), human_bytes(d["memory"])] for d in ds],
            )
        )
    rows = []
    plain = [x for x in recs if _substep(x) == "rk4"]
    lean = [x for x in recs if _substep(x) != "rk4"]
    ordered = [x for m in _sorted_methods(plain) for x in plain if x["method"] == m] + lean
    for x in ordered:
        label = x["method"] if _substep(x) == "rk4" else f"{x['method']} ({_substep(x)} substeps)"
        row = [label, human_time(x["time"]), human_bytes(x["memory"])]
        for variant in ("frugal", "dlra_rk4"):
            if variant in est:
                row.append(f"{est[variant]['time'] / x['time']:.0f}×")
                row.append(f"{est[variant]['memory'] / x['memory']:.0f}×" if x["memory"] else "–")
        rows.append(row)
    header = ["method", "time", "memory"]
    for variant in ("frugal", "dlra_rk4"):
        if variant in est:
            header += [f"faster than dense ({variant})", f"less memory ({variant})"]

    def extremes(group: list[Record], variant: str, key: str) -> str:
        ratios = sorted(
            ((est[variant][key] / x[key], x["method"]) for x in group if x.get(key)), reverse=True
        )
        (hi, m_hi), (lo, m_lo) = ratios[0], ratios[-1]
        return f"{hi:.0f}× ({m_hi}) … {lo:.0f}× ({m_lo})"

    if "frugal" in est:
        dense = est["frugal"]
        speed = min(dense["time"] / x["time"] for x in recs)
        goals.append(
            (
                f"≥ 100× faster per step than dense RK4 at n = m = {n}, r = {r}",
                f"{extremes(recs, 'frugal', 'time')} (dense {dense['how']})",
                "met" if speed >= 100 else "not met",
            )
        )
        meets = sorted(
            {
                x["method"] + ("" if _substep(x) == "rk4" else f" ({_substep(x)})")
                for x in recs
                if x.get("memory") and dense["memory"] / x["memory"] >= 500
            }
        )
        measured = f"RK4 substeps: {extremes(plain, 'frugal', 'memory')}"
        if lean:
            measured += f"; low-storage substeps: {extremes(lean, 'frugal', 'memory')}"
        goals.append(
            (
                f"≥ 500× less memory than dense RK4 at n = m = {n}, r = {r}",
                measured + " (against frugal dense RK4)",
                ("met for " + ", ".join(meets)) if meets else "not met",
            )
        )
    how = "; ".join(f"{v}: {e['how']}" for v, e in est.items())
    return (
        f"## Against dense RK4 (heat, n = m = {n}, r = {r})\n\n"
        "Dense RK4 integrates the full n × n matrix with the same sparse L (`Y ↦ L Y + Y Lᵀ`), "
        "in two implementations: *frugal* (in-place stages, four n × n arrays at the peak) and "
        "*dlra_rk4* (the `dlra.RK4` code applied to a plain function of the dense array, stages "
        "summed as they come).  One dense array at n = 16384 is 2 GiB; on this shared machine "
        "the dense step was measured up to the sizes below and extrapolated by the exact n² law "
        "of its time and memory (the measured sizes confirm it) — "
        f"{how}.\n\n"
        + "\n\n".join(lines)
        + "\n\nDLRA step at the comparison size and the ratios:\n\n"
        + _table(header, rows)
        + "\n\nA step's memory is a few n × r blocks against a few n × n arrays for dense RK4, "
        "so the ratio is (dense arrays × n) / (blocks × r): with n / r = 512 here and four "
        "arrays for frugal dense RK4, 500× needs a step to hold at most four n × r blocks.  With "
        "`LinearField` the substep solvers accumulate the field into preallocated blocks "
        "(`Flow.rhs_into`, row-chunked sparse products): `dlra.RK4`, which takes the heat "
        "field's constant-coefficient flows in Horner form (docs/conventions.md), then works in "
        "the start block and two more, so a K- or L-step plus the new basis of the other "
        "side is about four, at the 500× line (see the table); `dlra.LowStorageRK4` (the "
        "2N-storage scheme of Carpenter & Kennedy, five field evaluations instead of four) "
        "works in two, and `ksl`, `strang` "
        "and `bug` hold about three blocks — the goal is met with margin.  The augmented and "
        "second-order methods hold bases of width 2r–4r and the truncated factors, which no "
        "substep solver removes (`augmented_bug` and `parallel_bug`: two 2r-wide bases plus the "
        "two new factors, six blocks; the second-order methods more, see the memory column).  "
        "The memory column includes the scratch an integrator keeps from one step for the next "
        "(its workspace): nothing more for the first-order methods, about two blocks more for "
        "the augmented ones and 9–10 more for the second-order ones, whose blocks of several "
        "widths cannot stand in for each other; `workspace=False` gives it back at the price of "
        "fresh memory in every step (docs/choosing.md).\n"
    )


def _ratio_range(recs: list[Record], key: str, ns: list[int], methods: list[str]) -> str:
    idx = _by(recs, "method", "n")
    return "; ".join(
        f"{_pow2(n)}: {min(idx[(m, n)][key] for m in methods if (m, n) in idx):.1f}–"
        f"{max(idx[(m, n)][key] for m in methods if (m, n) in idx):.1f}"
        for n in ns
    )


def _within(recs: list[Record], key: str, ns: list[int], methods: list[str]) -> str:
    """Which methods have ``key ≤ 3`` at every n, and at the largest."""
    idx = _by(recs, "method", "n")
    ok_all = [m for m in methods if all(idx[(m, n)][key] <= 3 for n in ns if (m, n) in idx)]
    ok_top = [m for m in methods if (m, ns[-1]) in idx and idx[(m, ns[-1])][key] <= 3]
    if len(ok_all) == len(methods):
        return "met"
    return (
        f"met at every n ≥ 2^16 for {', '.join(ok_all) or 'none'}; at {_pow2(ns[-1])} for "
        f"{', '.join(ok_top) or 'none'}; not for the others"
    )


def _floor_goal(recs: list[Record], goals: list) -> str:
    big = [x for x in recs if x["n"] >= 2**16 and x.get("floor")]
    if not big:
        return ""
    ns = sorted({x["n"] for x in big})
    idx = _by(big, "method", "n")
    methods = _sorted_methods(big)
    widths = all(x.get("width_floor_ratio") for x in big)
    rows = []
    for m in methods:
        first = idx[(m, ns[0])]
        row = [m, first["nfev"], first["n_qr"]]
        if widths:
            row.append(", ".join(str(w) for w in sorted({e[1] for e in first["work"]})))
        for n in ns:
            x = idx.get((m, n))
            cell = f"{x['floor_ratio']:.2f}" if x else "–"
            if x and widths:
                cell += f" / {x['width_floor_ratio']:.2f}"
            row.append(cell)
        rows.append(row)
    prim = ", ".join(
        f"n = {_pow2(n)}: A·K {human_time(idx[(methods[0], n)]['extra']['t_spmm'])}, "
        f"K·B {human_time(idx[(methods[0], n)]['extra']['t_small'])}, "
        f"KᴴK {human_time(idx[(methods[0], n)]['extra']['t_gram'])}"
        for n in ns
    )
    goals.append(
        (
            "step ≤ 3× its memory-traffic floor at n ≥ 2^16",
            _ratio_range(big, "floor_ratio", ns, methods),
            _within(big, "floor_ratio", ns, methods),
        )
    )
    header = ["method", "nfev", "n_qr"] + (["block widths"] if widths else [])
    header += [f"step / floor{' / width floor' if widths else ''} at {_pow2(n)}" for n in ns]
    text = (
        "## Against the memory-traffic floor\n\n"
        "The floor of a step (issue 6): per field evaluation the problem's sparse products A·K "
        "and small products K·B on an n × r block, per orthonormalisation one Gram product KᴴK, "
        "each timed on its own in the same run as the fastest of its variants (numpy's product; "
        "the package's own in row chunks for OpenBLAS's small-matrix kernels, "
        "`Backend.set_product_` / `Backend.gram`; on numpy, A·K and K·B also written into a "
        "block allocated once, as the step's in-place stages do — a fresh n × r result "
        "at 2^20 is a fresh memory map whose page faults are allocator cost, not memory "
        "traffic, and would flatter the ratios), so that the step is compared with the best "
        "products available to it; the counts are the integrator's own counters "
        "(`nfev` counts every substep stage, including the r × r S-step stages, at the n × r "
        "price; `n_qr` counts plain and augmenting orthonormalisations).  Measured primitives: "
        f"{prim}.\n\n"
    )
    if widths:
        goals.append(
            (
                "the same, floor priced at the block widths each step works on",
                _ratio_range(big, "width_floor_ratio", ns, methods),
                _within(big, "width_floor_ratio", ns, methods),
            )
        )
        text += (
            "The augmented and second-order methods work on blocks 2r–4r wide, which the "
            "floor above prices at width r.  The **width floor** (second number) prices each "
            "operation at the width it works on, with the primitives timed at those widths in "
            "the same run (`benchmarks.measure.work_log` records them during the counted step): "
            "a K/L substep's stages at the width of its block, an S-step once (the projected "
            "operators its stages reuse — the floor above charges every stage), `right`/"
            "`galerkin` once per side at the basis width, an orthonormalisation or augmentation "
            "one Gram product at the width of the block orthonormalised.  It still leaves out "
            "the Gram–Schmidt passes of an augmentation, the products with old bases and the "
            "truncation's n × r̂ × r product, so it stays a lower bound.  For the first-order "
            "methods it is slightly lower than the floor above (S-steps priced once), for the "
            "augmented and second-order ones higher.\n\n"
        )
    return (
        text
        + _table(header, rows)
        + "\n\nWhat the floor does not count: the RK4 stage combinations (about 20 passes over "
        "an n × r block per substep), the products with the old bases (Uᴴ₁U₀, U₀S₀) and, for the "
        "augmented methods, that an augmentation is two projections and two Cholesky "
        "orthonormalisations (four products with the old basis, two Gram and two triangular "
        "products on blocks of width up to 2r–4r) rather than one Gram product.  What it "
        "overcounts: the r × r S-step stages, each charged at the n × r price — so a ratio "
        "slightly below 1 is possible for the leanest methods."
    )


def _pairs(recs: list[Record], key: str, first: Any, second: Any) -> list[tuple]:
    """``(method, n, a, b)`` for every (method, n) measured with ``key = first`` (record ``a``)
    and ``key = second`` (record ``b``), in table order."""
    idx = _by(recs, "method", "n", key)
    return [
        (m, n, idx[(m, n, first)], idx[(m, n, second)])
        for m in _sorted_methods(recs)
        for n in sorted({r["n"] for r in recs})
        if (m, n, first) in idx and (m, n, second) in idx
    ]


def _threads_section(recs: list[Record]) -> str:
    many = max(r["threads"] for r in recs)
    rows = [
        [m, _pow2(n), human_time(a["time"]), human_time(b["time"]), f"{a['time'] / b['time']:.2f}×"]
        for m, n, a, b in _pairs(recs, "threads", 1, many)
    ]
    return (
        f"## BLAS threads (heat, float64, r = {recs[0]['r']})\n\n"
        "The other tables use the BLAS threads of the header.  OpenBLAS's threaded kernels "
        "gain little on the tall-skinny products a DLRA step is made of, and on a machine whose "
        "cores are busy with other jobs they lose badly: its threads wait for the busy core.  In "
        "a run of this script while the 2-core machine had a load average of about 4, two "
        "threads made a `bug` step 20–60× slower than one thread at n = 2^12–2^16 (and "
        "`numpy.linalg.norm` of a 1024 × 16 block took 0.8 ms instead of 4 µs).  With few or "
        "shared cores, pin BLAS to one thread (`threadpoolctl.threadpool_limits(1)` or "
        "`OPENBLAS_NUM_THREADS=1`) and run independent problems in parallel instead.  This run "
        f"(load average in the header):\n\n"
        + _table(["method", "n", "1 thread", f"{many} threads", "speed-up"], rows)
    )


def _simple_section(title: str, recs: list[Record], text: str) -> str:
    return f"## {title}\n\n{text}  r = {recs[0]['r']}.\n\n" + _by_n_table(recs)


def _by_n_table(
    recs: list[Record], extra: tuple[str, Callable[[Record], str]] | None = None
) -> str:
    """Per method and n: the time and its floor ratio, and the column ``extra = (title, value)``
    when given."""
    ns = sorted({r["n"] for r in recs})
    idx = _by(recs, "method", "n")
    rows = []
    for m in _sorted_methods(recs):
        row = [m]
        for n in ns:
            x = idx.get((m, n))
            row += [
                human_time(x["time"]) if x else "–",
                f"{x['floor_ratio']:.2f}" if x and x.get("floor_ratio") else "–",
            ]
            if extra:
                row.append(extra[1](x) if x else "–")
        rows.append(row)
    header = ["method"]
    for n in ns:
        header += [f"n = {_pow2(n)}", "/ floor"] + ([extra[0]] if extra else [])
    return _table(header, rows)


def _graded_section(recs: list[Record], n_scan: list[Record]) -> str:
    plain = _by(n_scan, "method", "n")

    def to_plain(x: Record) -> str:
        y = plain.get((x["method"], x["n"]))
        return f"{x['time'] / y['time']:.2f}×" if y else "–"

    return (
        f"## Tiny singular values, small step (heat, float64, r = {recs[0]['r']})\n\n"
        "The heat problem from a state whose singular values fall to 1e-14, with h = 1e-3 — a "
        "convergence study's step.  Here orthonormalisations and augmentations meet blocks too "
        "ill-conditioned for Cholesky factors and take the general paths (docs/conventions.md, "
        "*Basis augmentation*: the SVD of a TSQR factor, Householder by TSQR).  `/ heat step` "
        "divides by the time of the same method on the heat problem of the n-scan above "
        "(singular values to 1e-3, h = 0.05), measured in the same run.  `adaptive_bug` "
        "(`rtol = 1e-8`) truncates the singular values below 1e-8 relative here (rank 16 → 9 "
        "after one step at r = 16), so it works at a lower rank.  "
        "Orthonormality of these steps is included in the goal above.\n\n"
        + _by_n_table(recs, ("/ heat step", to_plain))
    )


def _precision_section(recs: list[Record]) -> str:
    idx = _by(recs, "method", "dtype")
    rows = []
    for m in _sorted_methods(recs):
        t32, t64 = idx.get((m, "float32")), idx.get((m, "float64"))
        if t32 and t64:
            rows.append(
                [
                    m,
                    human_time(t32["time"]),
                    human_time(t64["time"]),
                    f"{t64['time'] / t32['time']:.2f}×",
                    human_bytes(t32["memory"]),
                    human_bytes(t64["memory"]),
                ]
            )
    n, r = recs[0]["n"], recs[0]["r"]
    return (
        f"## float32 against float64 (heat, n = {_pow2(n)}, r = {r})\n\n"
        + _table(["method", "float32", "float64", "speed-up", "memory f32", "memory f64"], rows)
        + "\n\nfloat32 halves the memory traffic; orthonormality is then at its round-off "
        "(~1e-7), and Cholesky-QR2 falls back to Householder for blocks with condition number "
        "above ~10³ (see `dlra.linalg`)."
    )


def _backend_section(
    recs: list[Record], backend: str, title: str, goals: list | None = None
) -> str:
    ns = sorted({r["n"] for r in recs})
    pairs = _pairs(recs, "backend", backend, "numpy")
    rows = [
        [m, _pow2(n), human_time(a["time"]), human_time(b["time"]), f"{b['time'] / a['time']:.2f}×"]
        for m, n, a, b in pairs
    ]
    if goals is not None and ns:
        ratios = [b["time"] / a["time"] for _, n, a, b in pairs if n == ns[-1]]
        if ratios:
            goals.append(
                (
                    f"{title} ≥ 10× faster than numpy at n = {_pow2(ns[-1])}, r = {recs[0]['r']}",
                    f"{min(ratios):.1f}× … {max(ratios):.1f}×",
                    "met" if min(ratios) >= 10 else "not met",
                )
            )
    note = ""
    if backend == "torch":
        note = (
            "\n\nSame code, same operations: on this CPU torch's own dense kernels are slower "
            "than numpy's for these shapes on one thread (the n × 16 by 16 × 16 product and the "
            "Gram product about 2× in isolated measurements at n = 2^16); the sparse products "
            "accumulate with torch's `addmm_`, as fast as scipy's kernel.  From 2^18 on torch "
            "also pays for fresh memory: it allocates most intermediates itself and its CPU "
            "allocator returns blocks of 32 MiB and more to the system, so each is page-faulted "
            "in again (numpy steps reuse their blocks through the integrator's workspace).  A "
            "process-wide glibc setting removes most of that (docs/conventions.md: a torch `bug` "
            "step at 2^18 goes from 470–484 to 295–301 ms).  torch is the path to GPUs; on the "
            "CPU prefer numpy."
        )
    table = _table(["method", "n", backend, "numpy", f"{backend} speed-up"], rows)
    return f"## {title} against numpy (heat, float64, r = {recs[0]['r']})\n\n" + table + note


def _tucker_section(recs: list[Record]) -> str:
    ns = sorted({r["n"] for r in recs})
    idx = _by(recs, "method", "n")
    rows = []
    for m in _sorted_methods(recs):
        rows.append(
            [m]
            + [human_time(idx[(m, n)]["time"]) if (m, n) in idx else "–" for n in ns]
            + [human_bytes(idx[(m, ns[-1])]["memory"]) if (m, ns[-1]) in idx else "–"]
        )
    fits = slopes(recs, "n", x_min=ns[1] if len(ns) > 2 else ns[0])  # above the overhead regime
    fit_txt = ", ".join(f"{m} {f[0]:.2f}" for m, f in fits.items())
    r = recs[0]["r"]
    return (
        f"## Tucker tensors (3-D heat, n × n × n, multilinear rank ({r}, {r}, {r}))\n\n"
        + _table(["method", *(f"n = {n}" for n in ns), f"memory at n = {ns[-1]}"], rows)
        + f"\n\nThe full tensor (n³ entries: {human_bytes(ns[-1] ** 3 * 8.0)} at n = {ns[-1]}) is "
        f"never formed.  Fitted exponents in n from n = {ns[1] if len(ns) > 2 else ns[0]} on: "
        f"{fit_txt}.  At small n the core products (r^(d+1)) and the Python overhead of the d "
        "mode substeps dominate; the per-mode work O(n r² + nnz(A) r) takes over at large n."
    )


def _guidance_section(points: list[Record], rel: str, compare: list[Record]) -> str:
    n = points[0]["n"]
    t = {x["method"]: x["time"] for x in compare if _substep(x) == "rk4"}
    if "bug" in t and ("adaptive_bug" in t or "parallel_bug" in t):
        ratios = [t[m] / t["bug"] for m in ("adaptive_bug", "parallel_bug") if m in t]
        adaptive_cost = f"{min(ratios):.1f}–{max(ratios):.1f}× (measured above)"
    else:
        adaptive_cost = "somewhat more than"
    # cheapest method per accuracy target
    targets = [1e-2, 1e-3, 1e-4, 1e-5]
    rows = []
    for target in targets:
        best = None
        for m in _sorted_methods(points):
            ok = [p for p in points if p["method"] == m and p["error"] <= target]
            if ok:
                c = min(ok, key=lambda p: p["cost"])
                if best is None or c["cost"] < best["cost"]:
                    best = c
        rows.append(
            [f"{target:.0e}"]
            + (
                [best["method"], f"h = {best['h']:.3g}", human_time(best["cost"])]
                if best
                else ["none of the measured step sizes", "–", "–"]
            )
        )
    return (
        "## Which integrator is cheapest for a given accuracy\n\n"
        f"![work–precision]({rel}/work_precision.png)\n\n"
        "Error at T = 1 of the T4 Schrödinger problem (validation library, N = 100, rank "
        f"{points[0].get('rank', '')}) for h = T/5 … T/80, plotted against what the same number of "
        f"steps costs at n = {_pow2(n)} (time per step of the Schrödinger benchmark above): the "
        "error depends on h and r, the cost on n.  Cheapest method per target:\n\n"
        + _table(["error target", "cheapest method", "step", f"cost at n = {_pow2(n)}"], rows)
        + "\n\nGuidance:\n\n"
        "* For moderate accuracy (errors ≳ 1e-2 at these ranks) a first-order method with few "
        "steps is cheapest: `bug` or `ksl`, the cheapest steps; `ksl` conserves norm and energy substep-wise, `bug` is stable for "
        "dissipative problems and parallel in its K/L-steps.\n"
        "* Below that, the second-order methods win despite a step costing 3–6× more: "
        "`midpoint_bug` (robust, order 2) and `strang` (order 2 observed, fixed rank, the "
        "cheapest second-order step); `parallel_bug2` has the widest blocks (4r) and is the "
        "dearest per step.\n"
        f"* Rank adaptivity (`adaptive_bug`, `parallel_bug`) costs {adaptive_cost} a `bug` step "
        "(the 2r Galerkin step and truncation) and pays off when the needed rank is not known "
        "(the 1e-5 target above needs the rank to grow).\n"
        "* float32 halves time and memory of the memory-bound parts where 1e-6 accuracy is enough."
    )


def _method_notes(plan: Any) -> str:
    return (
        "## How to read and reproduce\n\n"
        "* `python benchmarks/run_benchmarks.py` runs everything (about 15 minutes on 2 cores; "
        "`--quick` for a smoke run, `--threads N` for the BLAS threads, `--skip-torch`, "
        "`--skip-tucker`, `--dense-max N` to measure dense RK4 up to N where memory allows).\n"
        "* `pytest benchmarks --benchmark-enable` runs the pytest-benchmark suite (a few "
        "representative cases, with pytest-benchmark's statistics); it is not part of the test "
        'suite (`testpaths = ["tests"]`, `--benchmark-disable` in the addopts).\n'
        f"* Sizes of this run: n-scan {list(plan.n_scan)} at r = {plan.n_scan_rank}; r-scan "
        f"{list(plan.r_scan)} at n = {plan.r_scan_n}; Tucker n = {list(plan.tucker_n)}; dense "
        f"RK4 at {list(plan.dense_n)}.\n"
        "* Large-n timings and fresh memory: each integrator keeps the large scratch blocks of "
        "its last step for the next one (the workspace, docs/conventions.md), so the timed "
        "steps, which follow the counted warm-up step of the same integrator, reuse their "
        "blocks instead of paying the page faults of fresh memory maps again; the memory "
        "columns count the blocks kept between steps as part of a step's memory.  On the "
        "shared VM these measurements come from, fresh memory is expensive (45 ms for the first "
        "32 MiB block against 4 ms for the next and 1.2 ms to rewrite a block in place): before "
        "the workspace, a midpoint_bug step at n = 2^20, r = 16 took 4.2–7.9 s in fresh "
        "processes, with it 2.9–3.3 s (2026-11-24).  The spread between runs of this script on "
        "this machine remains large at n ≥ 2^18 (±30%).\n"
        "* Optimisations made for these measurements (issue 6): Cholesky-QR2 multiplies by the "
        "inverse of the small triangular factor (a matrix product instead of a triangular solve "
        "on the tall block: 3–5× faster) and checks finiteness on the small Gram matrices; "
        "`augment_basis` skips the rotation to singular directions when none is dropped, "
        "updates in place and hands the parallel integrators the coefficients Ũᴴ K₁ from its "
        "small factors (no product over the rows of K₁, which it may then overwrite); `LinearField` accumulates its terms in place and skips unit "
        "coefficients; projected operators Uᴴ A U are shared between the K-, L- and S-steps of a "
        "step (`StepContext.projections`: two of four saved per `ksl` step, four of seven per "
        "`strang` step); the projected operators of an augmented basis [U₀, Ũ] reuse U₀'s and "
        "compute only the blocks with the new columns, and the F½ / F₀ evaluation of "
        "`midpoint_bug` / `parallel_bug2` takes the cached projections "
        "(`LinearField.right_left_at`); scipy CSR operators accumulate into the stage block with "
        "scipy's own kernel (no product temporary), and numpy stage updates `y += a·x`, "
        "`y += a·(K @ B)` go to BLAS `axpy` / `gemm` (one pass, no temporary); at small sizes "
        "the small factorizations call LAPACK directly, tall-skinny inner, Gram and accumulated "
        "products run in row chunks sized for OpenBLAS's small-matrix kernels, and the RK4 "
        "stage sums check their blocks once per "
        'substep (docs/conventions.md, "Substep memory: in-place stages").  '
        "Tests: `tests/perf`, `tests/core/test_substeps.py`."
    )
