"""The step workspace (dlra._workspace): a block is reused only when nothing else refers to it,
results never share memory with later steps, warm steps compute what cold ones do, and the memory
kept between steps stays bounded."""

from __future__ import annotations

import copy
import pickle
import threading

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import dlra
from dlra import _workspace
from dlra._workspace import Workspace

from .integrator_table import SPECS

TUCKER_NAMES = sorted(dlra.registry("tucker"))

BIG = (1024, 256)  # float64: 2 MiB (the workspace keeps blocks from 128 KiB by default)


def address(x: np.ndarray) -> int:
    return x.__array_interface__["data"][0]


# -- the workspace on its own -----------------------------------------------------------------


def test_free_block_is_reused():
    ws = Workspace()
    a = ws.empty(BIG, np.float64)
    where = address(a)
    del a
    b = ws.empty(BIG, np.float64)
    assert address(b) == where


def test_block_in_use_is_not_handed_out():
    ws = Workspace()
    a = ws.empty(BIG, np.float64)
    b = ws.empty(BIG, np.float64)
    assert not np.shares_memory(a, b)


def test_a_view_keeps_its_block_busy():
    ws = Workspace()
    a = ws.empty(BIG, np.float64)
    column = a[:, 3:5]  # numpy views refer to the array owning the memory
    a_ptr = address(a)
    del a
    b = ws.empty(BIG, np.float64)
    assert address(b) != a_ptr
    column[...] = 1.0
    assert not np.shares_memory(b, column)
    del b
    assert address(ws.empty(BIG, np.float64)) != a_ptr  # still busy: the column view lives
    del column
    assert address(ws.empty(BIG, np.float64)) == a_ptr


def test_a_free_block_serves_requests_of_nearly_its_size():
    ws = Workspace()
    a = ws.empty(BIG, np.float64)
    where = address(a)
    del a
    b = ws.empty((256, 1024), np.complex64)  # another shape and dtype, the same bytes
    assert address(b) == where
    del b
    c = ws.empty((911, 256), np.float64)  # 8/9 of the bytes: still served by the block
    assert address(c) == where and c.shape == (911, 256) and c.dtype == np.float64
    del c
    # less: a block of its own (a factor the user keeps must not pin much more than it uses)
    d = ws.empty((910, 256), np.float64)
    assert address(d) != where
    e = ws.empty((1025, 256), np.float64)  # larger than the block: a block of its own
    assert not np.shares_memory(d, e)
    assert address(e) != where


def test_the_smallest_fitting_block_is_taken():
    ws = Workspace()
    large, small = ws.empty((1100, 256), np.float64), ws.empty(BIG, np.float64)
    small_at = address(small)
    del large, small
    assert address(ws.empty((1000, 256), np.float64)) == small_at  # both fit: the smaller


def test_small_blocks_are_not_kept():
    ws = Workspace()
    a = ws.empty((8, 8), np.float64)
    assert a.base is None  # a plain array, not a view of a kept block
    below = ws.empty((_workspace.MIN_BYTES // 8 - 1,), np.float64)
    assert below.base is None
    del a, below
    assert ws.nbytes == 0


def test_blocks_from_the_mmap_threshold_are_kept():
    # 128 KiB and more: glibc serves such blocks from fresh pages (n = 2^10, r = 16 is one)
    assert _workspace.MIN_BYTES == 128 << 10
    ws = Workspace()
    a = ws.empty((1024, 16), np.float64)
    assert a.base is not None
    del a
    assert ws.nbytes == 1024 * 16 * 8


def test_end_step_keeps_the_blocks_of_the_step_only():
    ws = Workspace()
    ws.empty(BIG, np.float64)  # handed out in step 0, free at its end
    ws.end_step()
    assert ws.nbytes == 8 * 1024 * 256  # kept for the next step
    ws.end_step()  # a step that did not use it: dropped
    assert ws.nbytes == 0
    kept = ws.empty(BIG, np.float64)  # in use across the end of the step (a returned factor)
    ws.end_step()
    ws.end_step()
    del kept  # forgotten by the workspace while in use: freed with its user
    assert ws.nbytes == 0


def test_clear_drops_everything():
    ws = Workspace()
    ws.empty(BIG, np.float64)
    ws.clear()
    assert ws.nbytes == 0


def test_scratch_helpers_outside_a_step_allocate_plainly():
    x = np.ones(BIG)
    small = np.eye(256)
    assert _workspace.empty_scratch(BIG, x).base is None
    assert _workspace.copy_scratch(x).base is None
    assert _workspace.zeros_scratch(BIG, x).base is None
    np.testing.assert_array_equal(_workspace.product_scratch(x, small), x)


# -- integrators with a workspace -------------------------------------------------------------


@pytest.fixture
def pool_everything(monkeypatch):
    """Keep every block, however small, so that the small test problems exercise the workspace,
    and fill every block with NaN as it is handed out: a step that reads scratch memory before
    writing it (stale contents of an earlier use) then returns NaN."""
    monkeypatch.setattr(_workspace, "MIN_BYTES", 0)
    take = Workspace._take

    def poisoned(self, shape, dtype, need):
        out = take(self, shape, dtype, need)
        out.fill(np.nan)
        return out

    monkeypatch.setattr(Workspace, "_take", poisoned)


def problem(n: int = 64, r: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    L = sp.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(n, n), format="csr") * 10.0
    M = sp.random(n, n, density=0.1, random_state=seed, format="csr")
    field = dlra.LinearField([(L, None), (None, L), (M, M.T)])
    U, _ = np.linalg.qr(rng.standard_normal((n, r)))
    V, _ = np.linalg.qr(rng.standard_normal((n, r)))
    Y0 = dlra.LowRankMatrix(U, np.diag(2.0 ** -np.arange(r)), V)
    return field, Y0


def cases():
    for spec in SPECS:
        for substep in ("rk4", "lsrk4"):
            yield pytest.param(spec.name, substep, spec.options, id=f"{spec.name}-{substep}")


@pytest.mark.parametrize(("method", "substep", "options"), list(cases()))
def test_warm_steps_compute_what_cold_steps_do(pool_everything, method, substep, options):
    field, Y0 = problem()
    h = 1e-3
    warm = dlra.get_integrator(method, substep=substep, **options)
    warm.step(field, Y0, 0.0, h)  # fills the workspace
    Y = Y0
    for k in range(3):
        cold = dlra.get_integrator(method, substep=substep, **options)
        expected = cold.step(field, Y, k * h, h).to_dense()
        Y = warm.step(field, Y, k * h, h)
        assert np.linalg.norm(Y.to_dense() - expected) <= 1e-12 * np.linalg.norm(expected)
    assert warm.workspace_nbytes() > 0


@pytest.mark.parametrize("method", [s.name for s in SPECS])
def test_results_are_not_overwritten_by_later_steps(pool_everything, method):
    field, Y0 = problem()
    options = next(s.options for s in SPECS if s.name == method)
    integrator = dlra.get_integrator(method, **options)
    Y1 = integrator.step(field, Y0, 0.0, 1e-3)
    saved = [np.array(x) for x in Y1]
    Y = Y1
    for k in range(1, 4):
        Y = integrator.step(field, Y, k * 1e-3, 1e-3)
    for before, now in zip(saved, Y1):
        np.testing.assert_array_equal(now, before)
    assert np.all(np.isfinite(Y.to_dense()))


def test_memory_kept_between_steps_is_bounded(pool_everything):
    field, Y0 = problem()
    integrator = dlra.get_integrator("midpoint_bug")
    Y = integrator.step(field, Y0, 0.0, 1e-3)
    after_one = integrator.workspace_nbytes()
    for k in range(1, 6):
        Y = integrator.step(field, Y, k * 1e-3, 1e-3)
    assert 0 < integrator.workspace_nbytes() <= after_one
    integrator.release_workspace()
    assert integrator.workspace_nbytes() == 0
    Y = integrator.step(field, Y, 6e-3, 1e-3)  # works again after the release
    assert np.all(np.isfinite(Y.to_dense()))


def test_integrators_with_a_workspace_copy_and_pickle(pool_everything):
    field, Y0 = problem()
    integrator = dlra.get_integrator("bug")
    expected = integrator.step(field, Y0, 0.0, 1e-3)
    for clone in (copy.deepcopy(integrator), pickle.loads(pickle.dumps(integrator))):
        assert clone.workspace_nbytes() == 0
        Y = clone.step(field, Y0, 0.0, 1e-3)
        np.testing.assert_allclose(Y.to_dense(), expected.to_dense(), rtol=0, atol=1e-14)


def test_threads_sharing_an_integrator_get_their_own_workspace(pool_everything):
    field, _ = problem()
    integrator = dlra.get_integrator("augmented_bug")
    states = [problem(seed=s)[1] for s in range(4)]
    expected = [dlra.get_integrator("augmented_bug").step(field, Y, 0.0, 1e-3) for Y in states]
    results: dict[int, list] = {}

    def run(i: int) -> None:
        Y = states[i]
        out = []
        for _ in range(20):  # the same step again and again, interleaved with the other threads
            out.append(integrator.step(field, Y, 0.0, 1e-3).to_dense())
        results[i] = out

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(states))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for i, Y in enumerate(expected):
        for got in results[i]:
            np.testing.assert_allclose(got, Y.to_dense(), rtol=0, atol=1e-14)


def test_solve_releases_the_workspace(pool_everything):
    field, Y0 = problem()
    integrator = dlra.get_integrator("bug")
    dlra.solve(field, Y0, (0.0, 1e-2), method=integrator, h=1e-3)
    assert integrator.workspace_nbytes() == 0


@pytest.mark.parametrize("method", TUCKER_NAMES)
def test_tucker_warm_steps_compute_what_cold_steps_do(pool_everything, method):
    from tests.tucker.integrator_table import BY_NAME as TUCKER
    from tests.tucker.problems import Sylvester, random_tucker

    field = Sylvester(coupling=0.3).field()
    Y = random_tucker()
    options = TUCKER[method].options
    warm = dlra.get_integrator(method, kind="tucker", **options)
    warm.step(field, Y, 0.0, 1e-2)  # fills the workspace
    for k in range(3):
        cold = dlra.get_integrator(method, kind="tucker", **options)
        expected = cold.step(field, Y, k * 1e-2, 1e-2).to_dense()
        Y = warm.step(field, Y, k * 1e-2, 1e-2)
        assert np.linalg.norm(Y.to_dense() - expected) <= 1e-12 * np.linalg.norm(expected)
    # the augmented bases (or the copies of K that augmentations work in) come from the
    # workspace; parallel_bug hands its K blocks over to the augmentation, whose general path
    # (these blocks are short) allocates what it returns: nothing of its step is pooled
    if warm.truncates and method != "parallel_bug":
        assert warm.workspace_nbytes() > 0


def test_workspace_false_keeps_nothing_and_computes_the_same(pool_everything):
    field, Y0 = problem()
    kept = dlra.get_integrator("midpoint_bug")
    plain = dlra.get_integrator("midpoint_bug", workspace=False)
    for _ in range(3):
        expected = kept.step(field, Y0, 0.0, 1e-3).to_dense()
        got = plain.step(field, Y0, 0.0, 1e-3).to_dense()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)
    assert kept.workspace_nbytes() > 0
    assert plain.workspace_nbytes() == 0
    sol = dlra.solve(field, Y0, (0.0, 3e-3), h=1e-3, method="bug", workspace=False)
    assert sol.status == 0 and len(sol.t) == 2


@pytest.mark.parametrize("value", [0, "no", None])
def test_workspace_option_must_be_a_bool(value):
    with pytest.raises(TypeError, match="workspace must be True or False"):
        dlra.get_integrator("bug", workspace=value)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.just("take"), st.integers(1024, 3000), st.sampled_from(["f8", "f4", "c16"])
            ),
            st.tuples(st.just("drop"), st.integers(0, 7), st.just("")),
            st.tuples(st.just("view"), st.integers(0, 7), st.just("")),
            st.tuples(st.just("end"), st.just(0), st.just("")),
        ),
        max_size=40,
    )
)
def test_no_two_live_arrays_share_a_block(operations):
    """Whatever the order of requests, views, releases and step ends, an array handed out never
    shares memory with another live one, and what it holds survives later requests."""
    ws = Workspace()
    live: list[tuple[np.ndarray, float]] = []
    for op, value, dtype in operations:
        if op == "take":
            a = ws.empty((value, 128), np.dtype(dtype))
            assert a.shape == (value, 128) and a.dtype == np.dtype(dtype)
            for other, _ in live:
                assert not np.shares_memory(a, other)
            mark = float(len(live) + 1)
            a.fill(mark)
            live.append((a, mark))
        elif op == "drop" and live:
            live.pop(value % len(live))
        elif op == "view" and live:
            a, mark = live[value % len(live)]
            live.append((a[1:, :64], mark))  # a view keeps its block busy
        elif op == "end":
            ws.end_step()
    for a, mark in live:
        assert np.all(a == mark)
