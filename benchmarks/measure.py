"""Measurement helpers: time and peak memory of one step, the memory-traffic floor, dense RK4.

Timings are the minimum over repeats of one step from the same state (the machine is shared; the
minimum is the least disturbed run).  Peak memory is what a step allocates beyond its inputs:
``tracemalloc`` for numpy (numpy and scipy report their buffers to it), ``max_memory_allocated``
on CUDA; not measured for torch on the CPU.
"""

from __future__ import annotations

import gc
import math
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

import dlra
from dlra.fields.operators import _csr_accumulate_chunks, _csr_kernel
from dlra.integrators import Counters
from dlra.integrators.base import StepContext

from .problems import Problem

__all__ = [
    "StepResult",
    "dense_rk4_heat",
    "fit_slope",
    "floor_calls",
    "floor_primitives",
    "human_bytes",
    "human_time",
    "integrator_for",
    "measure_step",
    "orthonormality_error",
    "prepare_step",
    "primitive_minima",
    "time_call",
    "time_interleaved",
    "traffic_floor",
    "width_floor",
    "work_log",
]

#: rank-adaptive methods need a tolerance; this one keeps the rank of the benchmark states
ADAPTIVE_RTOL = 1e-8


def integrator_for(method: str, kind: str = "matrix", substep: str = "rk4") -> dlra.Integrator:
    """The integrator used in the benchmarks: RK4 substeps unless ``substep`` says otherwise,
    ``rtol`` for the rank-adaptive BUG."""
    options: dict[str, Any] = {"substep": substep}
    if method == "adaptive_bug":
        options["rtol"] = ADAPTIVE_RTOL
    return dlra.get_integrator(method, kind=kind, **options)


def _sync(backend: str) -> None:
    if backend == "cuda":
        import torch

        torch.cuda.synchronize()


def time_call(
    fn: Callable[[], Any],
    backend: str = "numpy",
    *,
    min_repeats: int = 2,
    max_repeats: int = 20,
    budget: float = 0.5,
    warmup: bool = True,
) -> list[float]:
    """Wall times of ``fn()``: at least ``min_repeats``, more while the total stays under ``budget``."""
    if warmup:
        fn()
        _sync(backend)
    times: list[float] = []
    while len(times) < max_repeats:
        t0 = time.perf_counter()
        fn()
        _sync(backend)
        times.append(time.perf_counter() - t0)
        if len(times) >= min_repeats and sum(times) > budget:
            break
    return times


def peak_memory(fn: Callable[[], Any], backend: str) -> float | None:
    """Bytes allocated by ``fn()`` beyond what was allocated before (None where not measurable)."""
    gc.collect()
    if backend == "numpy":
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        try:
            fn()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return float(peak - base)
    if backend == "cuda":
        import torch

        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return float(torch.cuda.max_memory_allocated() - base)
    return None


@dataclass
class StepResult:
    """One (problem, method) measurement."""

    problem: str
    backend: str
    method: str
    n: int
    r: int
    dtype: str
    time: float  # seconds per step (minimum)
    median: float
    repeats: int
    memory: float | None  # bytes
    nfev: int
    n_qr: int
    n_svd: int
    floor: float | None = None  # seconds
    extra: dict[str, Any] = field(default_factory=dict)
    substep: str = "rk4"
    #: the step's work as ``(kind, width, count)`` events (see :func:`work_log`)
    work: list[tuple[str, int, int]] = field(default_factory=list)
    width_floor: float | None = None  # seconds

    @property
    def floor_ratio(self) -> float | None:
        return None if not self.floor else self.time / self.floor

    @property
    def width_floor_ratio(self) -> float | None:
        return None if not self.width_floor else self.time / self.width_floor

    @property
    def widths(self) -> list[int]:
        """The block widths the step works on (those its width floor is priced at)."""
        return sorted({w for _, w, _ in self.work})


def prepare_step(
    problem: Problem,
    method: str,
    *,
    kind: str = "matrix",
    memory: bool = True,
    substep: str = "rk4",
) -> tuple[Callable[[], Any], StepResult]:
    """One counted step (the warm-up: operator casts are cached), its orthonormality and peak
    memory; returns the step as a callable for timing and the result without times."""
    integ = integrator_for(method, kind, substep)
    Y0, F, h = problem.Y0, problem.field, problem.h
    if kind == "tucker":
        from dlra.tucker import as_tucker_field

        F = as_tucker_field(F)
    counters = Counters()
    with work_log() if kind == "matrix" else nullcontext([]) as work:
        Y1 = integ.step(F, Y0, 0.0, h, counters=counters)
    orth = orthonormality_error(Y1)
    del Y1

    def step() -> Any:
        return integ.step(F, Y0, 0.0, h)

    # the scratch blocks the integrator kept from the counted step (its workspace)
    held = integ.workspace_nbytes()

    mem = peak_memory(step, problem.backend) if memory else None
    if mem is not None:
        mem += held  # reused, not allocated, by the measured step: its memory all the same
    # an idle integrator gives its workspace back: with the workspaces of every method of a
    # size alive at once, n = 2^20 held about 12 GiB and slowed every measurement of the run
    integ.release_workspace()
    step.integrator = integ  # type: ignore[attr-defined]
    result = StepResult(
        problem=problem.name,
        backend=problem.backend,
        method=method,
        n=problem.n,
        r=problem.r,
        dtype=str(problem.dtype).replace("torch.", ""),
        time=math.inf,
        median=math.inf,
        repeats=0,
        memory=mem,
        nfev=counters.nfev,
        n_qr=counters.n_qr,
        n_svd=counters.n_svd,
        extra={"orthonormality": orth, "workspace_bytes": held},
        substep=substep,
        work=work,
    )
    return step, result


def measure_step(
    problem: Problem,
    method: str,
    *,
    kind: str = "matrix",
    memory: bool = True,
    budget: float = 0.5,
    max_repeats: int = 20,
) -> StepResult:
    """Time (and peak memory) of one step of ``method`` on ``problem``, with its work counters."""
    step, result = prepare_step(problem, method, kind=kind, memory=memory)
    # (warm-up: the workspace the counted step filled was given back)
    times = time_call(step, problem.backend, budget=budget, max_repeats=max_repeats, warmup=True)
    result.time, result.median, result.repeats = min(times), float(np.median(times)), len(times)
    return result


def time_interleaved(
    steps: dict[str, Callable[[], Any]],
    backend: str,
    *,
    min_rounds: int = 2,
    max_rounds: int = 20,
    budget: float = 0.5,
    warm: dict[str, Callable[[], Any]] | None = None,
    after: dict[str, Callable[[], Any]] | None = None,
) -> dict[str, list[float]]:
    """Wall times of several callables timed in rounds (each once per round, in turn), so that a
    change of the machine's load affects all of them alike; at least ``min_rounds`` rounds, more
    while the total stays under ``budget`` per callable.  ``warm[name]`` runs untimed right
    before each timed call of ``name`` and ``after[name]`` right after it (a step's warm-up
    step, which fills its integrator's workspace, and the release of that workspace)."""
    times: dict[str, list[float]] = {k: [] for k in steps}
    warm, after = warm or {}, after or {}
    total = 0.0
    for rounds in range(1, max_rounds + 1):
        for name, fn in steps.items():
            if name in warm:
                warm[name]()
                _sync(backend)
            t0 = time.perf_counter()
            fn()
            _sync(backend)
            dt = time.perf_counter() - t0
            times[name].append(dt)
            total += dt
            if name in after:
                after[name]()
        if rounds >= min_rounds and total > budget * len(steps):
            break
    return times


def orthonormality_error(Y: Any) -> float:
    """Largest ``‖XᴴX − I‖_F`` over the factors of a LowRankMatrix or TuckerTensor."""
    factors = Y.factors if hasattr(Y, "factors") else (Y.U, Y.V)
    be = Y.backend
    return max(be.norm(be.H(X) @ X - be.eye(be.shape(X)[1], like=X)) for X in factors)


def floor_calls(problem: Problem, width: int | None = None) -> dict[str, Callable[[], Any]]:
    """The three products of the floor model on an n × w block (w = ``width``, default the rank
    r) of the problem's dtype and device: ``spmm`` (sparse operator times block), ``small``
    (block times w × w), ``gram`` (``KᴴK``), each in variants (``name@variant``) of which the
    floor takes the fastest (:func:`primitive_minima`).

    The ``@into`` variants write their n × w result into a block allocated once, here, as a
    step's in-place stages do: at 2^20 × 16 a fresh result is a fresh memory map whose page
    faults double the time of the product (41 ms against 20 ms for ``K @ B`` on the benchmark
    machine, 2026-11-24) — allocator cost, not memory traffic.  ``spmm@into`` accumulates
    (``y += A K``, the step's own kernel), so only its first call returns ``A K`` itself."""
    be = problem.Y0.backend
    K = problem.Y0.U @ problem.Y0.S
    r = be.shape(K)[1]
    w = r if width is None else int(width)
    if w != r:  # the columns of K repeated (scaled) to width w: same dtype, device and magnitude
        K = be.copy(be.concat([K * (1.0 + j) for j in range(-(-w // r))], axis=1)[:, :w])
    B = be.copy(K[:w, :w])
    op = problem.operators["L"]
    small_out, chunks_out = be.empty(be.shape(K), like=K), be.empty(be.shape(K), like=K)

    def small_in_chunks() -> Any:
        be.set_product_(chunks_out, K, B)
        return chunks_out

    # the floor is the faster of numpy's products and the package's small-kernel chunks
    # (`Backend.gram`, `Backend.set_product_`): a floor that only numpy's slower path reaches
    # would be too easy to meet
    calls: dict[str, Callable[[], Any]] = {
        "spmm": lambda: op @ K,
        "small": lambda: K @ B,
        "small@chunks": small_in_chunks,
        "gram": lambda: be.H(K) @ K,
        "gram@chunks": lambda: be.gram(K),
    }
    if be.name == "numpy":
        calls["small@into"] = lambda: np.matmul(K, B, out=small_out)
        if _csr_kernel() is not None and sp.issparse(op) and op.format == "csr":
            spmm_out = np.zeros(be.shape(K), dtype=K.dtype)
            csr = op.astype(K.dtype, copy=False)

            def spmm_into() -> Any:
                if not _csr_accumulate_chunks([csr], K, spmm_out, 1.0, chunked=False):
                    raise RuntimeError("the CSR kernel declined the floor's product")
                return spmm_out

            calls["spmm@into"] = spmm_into
    return calls


def primitive_minima(times: dict[str, list[float]]) -> dict[str, float]:
    """``{"spmm", "small", "gram"}`` → the least time over the variants of each primitive
    (``"small"`` and ``"small@chunks"`` are both ``"small"``)."""
    out: dict[str, float] = {}
    for key, ts in times.items():
        name = key.split("@")[0]
        out[name] = min(out.get(name, math.inf), min(ts))
    return out


def floor_primitives(problem: Problem, *, budget: float = 0.3) -> dict[str, float]:
    """Minimum times of the products of :func:`floor_calls`, each timed on its own (the least
    over the variants of a primitive)."""
    return primitive_minima(
        {
            name: time_call(fn, problem.backend, budget=budget, max_repeats=50)
            for name, fn in floor_calls(problem).items()
        }
    )


def traffic_floor(problem: Problem, result: StepResult, prims: dict[str, float]) -> float:
    """The memory-traffic floor of a step: per field evaluation the problem's sparse and small
    products on an n × r block, per orthonormalisation one Gram product (issue 6 model)."""
    return result.nfev * _per_eval(problem, prims) + result.n_qr * prims["gram"]


def _per_eval(problem: Problem, prims: dict[str, float]) -> float:
    """The floor of one field evaluation: the problem's sparse and small products."""
    return problem.sparse_products * prims["spmm"] + problem.small_products * prims["small"]


_LOGGED = ("k_step", "l_step", "s_step", "right", "right_left", "galerkin", "orth", "augment")


@contextmanager
def work_log() -> Iterator[list[tuple[str, int, int]]]:
    """While active, every matrix :class:`~dlra.integrators.base.StepContext` operation appends
    ``(kind, width, count)`` to the yielded list: ``("eval", w, k)`` for ``k`` field evaluations
    on n × w blocks (a K/L substep: its stages on the block it starts from; an S-step: one, the
    projected operators its r̂ × r̂ stages reuse; ``right``/``galerkin``: one per side, at the
    basis width), ``("qr", w, 1)`` for an orthonormalisation of an n × w block (for an
    augmentation: the new directions).  Benchmark instrumentation: it wraps the class methods
    for the duration of the block (one thread)."""
    events: list[tuple[str, int, int]] = []
    originals = {name: getattr(StepContext, name) for name in _LOGGED}

    def width(X: Any) -> int:
        return int(X.shape[1])

    def substep(orig: Callable) -> Callable:
        def wrapped(self: StepContext, B: Any, X0: Any, *args: Any, **kw: Any) -> Any:
            w, before = width(X0), self.counters.nfev
            out = orig(self, B, X0, *args, **kw)
            events.append(("eval", w, self.counters.nfev - before))
            return out

        return wrapped

    def s_step(self: StepContext, U: Any, V: Any, *args: Any, **kw: Any) -> Any:
        events.append(("eval", max(width(U), width(V)), 1))
        return originals["s_step"](self, U, V, *args, **kw)

    def right(self: StepContext, t: float, A: Any, B: Any, W: Any) -> Any:
        events.append(("eval", width(W), 1))
        return originals["right"](self, t, A, B, W)

    def right_left(self: StepContext, t: float, A: Any, B: Any, W: Any, Z: Any) -> Any:
        events.extend([("eval", width(W), 1), ("eval", width(Z), 1)])
        return originals["right_left"](self, t, A, B, W, Z)

    def galerkin(self: StepContext, t: float, A: Any, B: Any, Z: Any, W: Any) -> Any:
        events.append(("eval", max(width(Z), width(W)), 1))
        return originals["galerkin"](self, t, A, B, Z, W)

    def orth(self: StepContext, X: Any) -> Any:
        events.append(("qr", width(X), 1))
        return originals["orth"](self, X)

    def augment(self: StepContext, U0: Any, K: Any, *args: Any, **kw: Any) -> Any:
        events.append(("qr", width(K), 1))
        return originals["augment"](self, U0, K, *args, **kw)

    wrappers = {
        "k_step": substep(originals["k_step"]),
        "l_step": substep(originals["l_step"]),
        "s_step": s_step,
        "right": right,
        "right_left": right_left,
        "galerkin": galerkin,
        "orth": orth,
        "augment": augment,
    }
    for name, fn in wrappers.items():
        setattr(StepContext, name, fn)
    try:
        yield events
    finally:
        for name, fn in originals.items():
            setattr(StepContext, name, fn)


def width_floor(
    problem: Problem, result: StepResult, prims: dict[int, dict[str, float]]
) -> float | None:
    """The floor of :func:`traffic_floor` priced at the widths the step works on: per logged
    field evaluation on an n × w block the problem's sparse and small products on n × w, per
    orthonormalisation of an n × w block one n × w Gram product (``prims[w]``: the primitives
    at width w).  Unlike :func:`traffic_floor` it prices an S-step once (its projection), not
    per stage.  None when the step logged no work."""
    if not result.work:
        return None
    total = 0.0
    for kind, w, count in result.work:
        p = prims[w]
        total += count * (_per_eval(problem, p) if kind == "eval" else p["gram"])
    return total


def dense_rk4_heat(
    n: int, h: float, *, variant: str = "frugal", repeats: int = 1
) -> dict[str, float]:
    """One classical RK4 step of the dense heat equation ``Ẏ = L Y + Y Lᵀ`` (n × n, float64, scipy
    sparse ``L``): the baseline DLRA is compared with.

    ``variant="frugal"``: written for memory (stage and accumulator arrays updated in place, three
    n × n work arrays plus the field's temporaries); ``variant="dlra_rk4"``: the very RK4 code the
    DLRA substeps use (:class:`dlra.RK4` on a plain function of the dense array: stages summed as
    they come).  Returns the minimum time
    and the peak memory beyond Y (tracemalloc).
    """
    from dlra.fields.base import Flow

    from .problems import second_difference

    L = second_difference(n)
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((n, n)) / n

    def rhs(t: float, X: np.ndarray) -> np.ndarray:
        out = (L @ X.T).T  # Y Lᵀ (L is symmetric: computed as (L Xᵀ)ᵀ)
        out += L @ X
        return out

    def frugal() -> np.ndarray:
        arg = np.empty_like(Y)
        k = rhs(0.0, Y)  # k1
        acc = k * (h / 6)
        for c, w in ((h / 2, h / 3), (h / 2, h / 3), (h, h / 6)):
            np.multiply(k, c, out=arg)
            arg += Y
            del k
            k = rhs(0.0, arg)
            k *= w
            acc += k
        acc += Y
        return acc

    if variant == "frugal":
        step = frugal
    elif variant == "dlra_rk4":
        solver = dlra.RK4()
        flow = Flow(rhs)

        def step() -> np.ndarray:
            return solver.solve(flow, Y, 0.0, h)
    else:
        raise ValueError(f"variant must be 'frugal' or 'dlra_rk4', got {variant!r}")

    times = time_call(step, min_repeats=repeats, max_repeats=repeats, budget=0.0, warmup=False)
    mem = peak_memory(step, "numpy")
    return {"time": min(times), "memory": float(mem or 0.0)}


def fit_slope(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope and intercept of ``log y`` against ``log x``."""
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    slope, intercept = np.polyfit(lx, ly, 1)
    return float(slope), float(intercept)


def human_bytes(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(x) < 1024 or unit == "TiB":
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    return f"{x:.1f} TiB"


def human_time(x: float | None) -> str:
    if x is None:
        return "–"
    if x < 1e-3:
        return f"{x * 1e6:.0f} µs"
    if x < 1:
        return f"{x * 1e3:.2f} ms" if x < 0.1 else f"{x * 1e3:.0f} ms"
    return f"{x:.2f} s"
