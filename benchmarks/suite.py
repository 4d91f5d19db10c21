"""The measurement campaign behind ``docs/benchmarks.md``: which sizes, which methods, in which order.

Every function returns plain records (dicts) so that the report can be rebuilt from the JSON file
the script writes next to the Markdown page.  Sizes are chosen by a :class:`Plan`: the full plan
samples ``n = 2¹⁰ … 2²⁰`` and ``r = 4 … 128`` within about 15 minutes on two cores; the tiny plan
(``--quick``) runs every code path in seconds (used by ``tests/perf``).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import dlra

from .measure import (
    StepResult,
    dense_rk4_heat,
    floor_calls,
    prepare_step,
    primitive_minima,
    time_interleaved,
    traffic_floor,
    width_floor,
)
from .problems import Problem, make_problem, make_tucker_problem

METHODS = list(dlra.INTEGRATORS)
#: the methods timed on torch (CPU/CUDA): one of each family
TORCH_METHODS = ["ksl", "bug", "augmented_bug", "parallel_bug", "midpoint_bug"]
#: the methods also compared with dense RK4 using low-storage substeps (dlra.LowStorageRK4):
#: those whose K- and L-steps are the whole working set (the augmented and second-order methods
#: hold bases of width 2r–4r, which the substep solver cannot shrink)
LOW_STORAGE_METHODS = ["ksl", "strang", "bug"]


@dataclass
class Plan:
    """Sizes of every section of the campaign."""

    n_scan: Sequence[int] = tuple(2**k for k in (10, 12, 14, 16, 18, 20))
    n_scan_rank: int = 16
    r_scan: Sequence[int] = (4, 8, 16, 32, 64, 128)
    r_scan_n: int = 2**14
    schrodinger_n: Sequence[int] = (2**12, 2**16)
    schrodinger_rank: int = 16
    graded_n: Sequence[int] = (2**12, 2**16)
    float32_n: int = 2**16
    threads_n: Sequence[int] = (2**12, 2**16, 2**18)
    torch_n: Sequence[int] = (2**12, 2**16, 2**18)
    cuda_n: Sequence[int] = (2**16, 2**20)
    cuda_rank: int = 64
    tucker_n: Sequence[int] = (64, 512, 4096, 32768)
    tucker_rank: int = 8
    overhead_n: int = 2**10
    overhead_rank: int = 8
    #: the same step at a size where the n-row blocks cost next to nothing: its fixed part
    overhead_fixed_n: int = 2**6
    dense_n: Sequence[int] = (2048, 4096, 8192)
    compare_n: int = 16384
    compare_rank: int = 32
    accuracy_rank: int = 16
    accuracy_steps: Sequence[int] = (5, 10, 20, 40, 80)
    budget: float = 0.6  # seconds of repeats per timing (at least two runs)
    #: from this n on: three rounds of timing, no warm-up beyond the counting step
    largest_repeats_from: int = 2**19

    @classmethod
    def quick(cls) -> Plan:
        """Tiny sizes: every section runs in seconds (smoke test of the script)."""
        return cls(
            n_scan=(2**8, 2**10),
            n_scan_rank=4,
            r_scan=(2, 4),
            r_scan_n=2**8,
            schrodinger_n=(2**8,),
            schrodinger_rank=4,
            graded_n=(2**8,),
            float32_n=2**8,
            threads_n=(2**8,),
            torch_n=(2**8,),
            cuda_n=(2**10,),
            cuda_rank=8,
            tucker_n=(8, 12),
            tucker_rank=2,
            overhead_n=2**8,
            overhead_rank=4,
            overhead_fixed_n=2**5,
            dense_n=(128, 256),
            compare_n=512,
            compare_rank=4,
            accuracy_rank=4,
            accuracy_steps=(4, 8),
            budget=0.01,
        )


@dataclass
class Campaign:
    """Collects the records of all sections (and progress messages)."""

    plan: Plan
    log: Callable[[str], None] = print
    methods: Sequence[str] = field(default_factory=lambda: list(METHODS))
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    orthonormality: float = 0.0

    def add(self, section: str, record: dict[str, Any]) -> None:
        self.records.setdefault(section, []).append(record)

    # -- one problem, many methods -----------------------------------------------------------------
    def run_problem(
        self,
        section: str,
        problem: Problem,
        methods: Sequence[str],
        *,
        kind: str = "matrix",
        floor: bool = True,
        memory: bool = True,
        tags: dict[str, Any] | None = None,
        substep: str = "rk4",
    ) -> list[StepResult]:
        steps, results = {}, []
        for method in methods:
            step, res = prepare_step(problem, method, kind=kind, memory=memory, substep=substep)
            steps[method] = step
            results.append(res)
        # the floor's primitives at width r and at every other width the steps work on
        widths = sorted({problem.r} | {w for res in results for w in res.widths})
        if floor:
            for w in widths:
                for name, fn in floor_calls(problem, w).items():
                    fn()  # warm-up
                    steps[f"floor@{w}:{name}"] = fn
        large = problem.n >= self.plan.largest_repeats_from
        # integrators that keep scratch blocks between steps (the workspace) are timed warm:
        # an untimed step before each timed one, and the workspace given back after it, so that
        # the workspaces of the other methods are not held while one is timed
        keeps = {res.method: steps[res.method] for res in results if res.extra["workspace_bytes"]}
        times = time_interleaved(
            steps,
            problem.backend,
            # small steps are timed in up to 100 rounds (the budget ends the rounds of the
            # larger ones): a minimum over more rounds is less at the mercy of a busy host
            max_rounds=3 if large else 100,
            budget=self.plan.budget,
            warm=keeps,
            after={m: step.integrator.release_workspace for m, step in keeps.items()},
        )
        if floor:
            # the floor's products are cheap: time them again on their own, so that a disturbed
            # round among the few of the largest steps cannot raise the floor (a raised floor
            # flatters every ratio; at 2^20 a run of 2026-11-24 measured A·K and K·B 36–51%
            # slower inside its three rounds than alone)
            alone = time_interleaved(
                {k: fn for k, fn in steps.items() if k.startswith("floor@")},
                problem.backend,
                min_rounds=5,
                budget=self.plan.budget / 4,
            )
            for k, ts in alone.items():
                times[k].extend(ts)
        for res in results:
            ts = times[res.method]
            res.time, res.median, res.repeats = min(ts), float(np.median(ts)), len(ts)
        by_width = {
            w: primitive_minima(
                {k.split(":")[1]: v for k, v in times.items() if k.startswith(f"floor@{w}:")}
            )
            for w in widths
        }
        prims = by_width[problem.r]
        for res in results:
            if prims:
                res.floor = traffic_floor(problem, res, prims)
                res.width_floor = width_floor(problem, res, by_width)
                res.extra.update({f"t_{k}": v for k, v in prims.items()})
                res.extra["t_by_width"] = {
                    str(w): by_width[w] for w in sorted(by_width) if w in res.widths
                }
            if "float64" in res.dtype or "complex128" in res.dtype:
                # single precision is at its own round-off (1e-7), outside the float64 goal
                self.orthonormality = max(self.orthonormality, res.extra["orthonormality"])
            record = asdict(res)
            record["floor_ratio"] = res.floor_ratio
            record["width_floor_ratio"] = res.width_floor_ratio
            record.update(tags or {})
            self.add(section, record)
            self.log(
                f"  {section:10s} {problem.name:11s} {problem.backend:5s} {res.method:13s} "
                f"n={problem.n:<8d} r={problem.r:<4d} {substep:5s} {res.time * 1e3:10.2f} ms"
                + (f"  floor×{res.floor_ratio:5.2f}" if res.floor_ratio else "")
                + (f"  width floor×{res.width_floor_ratio:5.2f}" if res.width_floor_ratio else "")
            )
        return results


def _free(*objs: Any) -> None:
    del objs
    gc.collect()


def run_all(campaign: Campaign, *, torch: bool = True, tucker: bool = True) -> None:
    """Every section, cheapest first."""
    plan, log, methods = campaign.plan, campaign.log, campaign.methods

    log("overhead: small n")
    p = make_problem("heat", plan.overhead_n, plan.overhead_rank)
    campaign.run_problem("overhead", p, methods, floor=False)
    p = make_problem("heat", plan.overhead_fixed_n, plan.overhead_rank)
    campaign.run_problem("overhead_fixed", p, methods, floor=False)

    log("scaling in n (heat, float64, numpy)")
    for n in plan.n_scan:
        p = make_problem("heat", n, plan.n_scan_rank)
        campaign.run_problem("n_scan", p, methods)
        _free(p)

    log("scaling in r (heat, float64, numpy)")
    for r in plan.r_scan:
        p = make_problem("heat", plan.r_scan_n, r)
        campaign.run_problem("r_scan", p, methods)
        _free(p)

    log("BLAS threads: 1 against all cores")
    cores = os.cpu_count() or 1
    if cores > 1:
        from threadpoolctl import threadpool_limits

        for n in plan.threads_n:
            for threads in (1, cores):
                with threadpool_limits(threads):
                    p = make_problem("heat", n, plan.n_scan_rank)
                    methods_t = ["bug", "augmented_bug"]
                    campaign.run_problem("threads", p, methods_t, tags={"threads": threads})
                _free(p)

    log("Schrödinger-type (complex128)")
    for n in plan.schrodinger_n:
        p = make_problem("schrodinger", n, plan.schrodinger_rank)
        campaign.run_problem("schrodinger", p, methods)
        _free(p)

    log("graded spectrum, small step (heat, float64)")
    for n in plan.graded_n:
        p = make_problem("heat_graded", n, plan.n_scan_rank)
        campaign.run_problem("graded", p, methods)
        _free(p)

    log("float32 vs float64")
    for precision in ("single", "double"):
        p = make_problem("heat", plan.float32_n, plan.n_scan_rank, precision=precision)
        campaign.run_problem("precision", p, ["ksl", "bug", "augmented_bug", "parallel_bug"])
        _free(p)

    log("comparison with dense RK4")
    p = make_problem("heat", plan.compare_n, plan.compare_rank)
    campaign.run_problem("compare", p, methods)
    low_storage = [m for m in LOW_STORAGE_METHODS if m in methods]
    if low_storage:
        campaign.run_problem("compare", p, low_storage, substep="lsrk4")
    _free(p)
    last: dict[str, dict[str, Any]] = {}
    for n in plan.dense_n:
        for variant in ("frugal", "dlra_rk4"):
            prev = last.get(variant)
            if prev is not None:
                # peak of the step (n² law from the previous size) plus Y itself, against what
                # the machine has free now: never push a shared machine into swapping
                need = prev["memory"] * (n / prev["n"]) ** 2 + 8.0 * n * n
                free = available_memory()
                if free is not None and need > 0.7 * free:
                    log(
                        f"  dense RK4 ({variant}) n={n}: skipped, needs ~{need / 2**30:.1f} GiB "
                        f"of {free / 2**30:.1f} GiB available"
                    )
                    continue
            d = dense_rk4_heat(n, p.h, variant=variant)
            last[variant] = {"n": n, **d}
            campaign.add("dense", {"n": n, "variant": variant, **d})
            log(f"  dense RK4 ({variant}) n={n}: {d['time']:.3f} s, {d['memory'] / 2**20:.0f} MiB")
            gc.collect()

    if torch:
        _run_torch(campaign)
    if tucker:
        log("Tucker (3-D heat)")
        for n in plan.tucker_n:
            p = make_tucker_problem(n, plan.tucker_rank)
            campaign.run_problem("tucker", p, methods, kind="tucker", floor=False)
            _free(p)

    log("accuracy against cost (Schrödinger T4)")
    run_accuracy(campaign)


def _run_torch(campaign: Campaign) -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is part of the benchmark set-up
        campaign.log("torch not installed: skipped")
        return
    plan, log = campaign.plan, campaign.log
    log(f"torch CPU ({torch.get_num_threads()} threads, sparse CSR)")
    for n in plan.torch_n:
        for backend in ("torch", "numpy"):
            p = make_problem("heat", n, plan.n_scan_rank, backend)
            campaign.run_problem("torch", p, TORCH_METHODS, memory=backend == "numpy")
            _free(p)
    if torch.cuda.is_available():  # pragma: no cover - measured only where a GPU is lent
        log(f"CUDA ({torch.cuda.get_device_name()})")
        for n in plan.cuda_n:
            for backend in ("cuda", "numpy"):
                p = make_problem("heat", n, plan.cuda_rank, backend)
                campaign.run_problem("cuda", p, TORCH_METHODS)
                _free(p)


def run_accuracy(campaign: Campaign) -> None:
    """Error at T of every method on the T4 Schrödinger problem (validation library) for several
    step sizes; the report combines it with the time per step at large n (work–precision)."""
    from validation.problems import make

    plan = campaign.plan
    prob = make("schrodinger")
    F, Y0 = prob.field(), prob.y0(plan.accuracy_rank)
    for method in campaign.methods:
        for steps in plan.accuracy_steps:
            h = prob.T / steps
            opts: dict[str, Any] = {"rtol": 1e-8} if method == "adaptive_bug" else {}
            sol = dlra.solve(F, Y0, (prob.t0, prob.T), h=h, method=method, **opts)
            err = prob.error(sol.y[-1])
            campaign.add(
                "accuracy",
                {"method": method, "steps": steps, "h": h, "error": err, "rank": sol.ranks[-1]},
            )
        campaign.log(f"  accuracy {method:13s} errors {_errors(campaign, method)}")


def _errors(campaign: Campaign, method: str) -> str:
    return " ".join(
        f"{r['error']:.1e}" for r in campaign.records["accuracy"] if r["method"] == method
    )


def available_memory() -> float | None:
    """Bytes of memory available now (Linux ``MemAvailable``), None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        return None
    return None


def environment(threads: int) -> dict[str, Any]:
    """Date, machine, library versions, threads and load (for the report header)."""
    import datetime
    import platform
    import subprocess

    import scipy

    env: dict[str, Any] = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "dlra": dlra.__version__,
        "threads": threads,
        "cores": os.cpu_count(),
        "load_before": os.getloadavg()[0],
    }
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = [line.split(":", 1)[1].strip() for line in out.splitlines() if "Model name" in line]
        env["cpu"] = model[0] if model else platform.processor()
    except OSError:  # pragma: no cover - lscpu missing
        env["cpu"] = platform.processor()
    try:
        with open("/proc/meminfo") as fh:
            total = int(fh.readline().split()[1])
        env["memory_gib"] = round(total / 2**20, 1)
    except OSError:  # pragma: no cover - not Linux
        env["memory_gib"] = None
    try:
        import threadpoolctl

        info = threadpoolctl.threadpool_info()
        env["blas"] = ", ".join(
            sorted({f"{i.get('internal_api')} {i.get('version')}" for i in info})
        )
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        env["blas"] = "?"
    try:
        import torch

        env["torch"] = torch.__version__
        env["cuda"] = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    except ImportError:  # pragma: no cover
        env["torch"] = None
        env["cuda"] = None
    return env
