"""Per-mode truncation (ST-HOSVD of the core) and rank control."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dlra
from dlra.tucker import TuckerRankControl, TuckerTensor
from dlra.tucker.truncation import make_admissible, sthosvd

from .problems import random_tucker


def test_sthosvd_error_is_root_sum_of_tails():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 7, 8))
    core, factors, tails = sthosvd(A, [None] * 3, TuckerRankControl(ranks=(3, 4, 5)))
    Y = TuckerTensor(core, factors)
    assert Y.ranks == (3, 4, 5)
    err = np.linalg.norm(Y.to_dense() - A)
    assert err == pytest.approx(np.sqrt(np.sum(np.square(tails))), rel=1e-10)


@settings(max_examples=25, deadline=None)
@given(tol=st.floats(1e-3, 10.0), seed=st.integers(0, 1000))
def test_tolerance_is_a_bound_on_the_total_error(tol, seed):
    """Whatever the tolerance, the discarded Frobenius norm is at most ϑ (budget over the modes)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((5, 6, 7)) * np.logspace(0, -3, 7)
    control = TuckerRankControl.build(3, tol=tol)
    core, factors, tails = sthosvd(A, [None] * 3, control)
    err = np.linalg.norm(TuckerTensor(core, factors).to_dense() - A)
    assert err <= tol * (1 + 1e-12)
    assert err == pytest.approx(np.sqrt(np.sum(np.square(tails))), rel=1e-8, abs=1e-12)


def test_d2_keeps_what_the_matrix_rule_keeps():
    """For d = 2 the budget rule keeps exactly the singular values dlra.truncation_rank keeps."""
    rng = np.random.default_rng(1)
    S = rng.standard_normal((9, 9)) * np.logspace(0, -4, 9)
    sigma = np.linalg.svd(S, compute_uv=False)
    for tol in np.geomspace(1e-4, 1.0, 12):
        r = dlra.truncation_rank(sigma, dlra.RankControl(tol=tol))
        core, _, _ = sthosvd(S, [None, None], TuckerRankControl.build(2, tol=tol))
        assert core.shape == (r, r)


def test_min_and_max_rank_per_mode():
    A = np.random.default_rng(2).standard_normal((6, 7, 8))
    control = TuckerRankControl.build(3, tol=1e3, min_rank=(2, 2, 3), max_rank=(None, 5, 4))
    core, _, _ = sthosvd(A, [None] * 3, control)
    assert core.shape == (2, 2, 3)  # a huge tolerance keeps only the minimum ranks
    # minimum ranks that are inadmissible are reduced to admissible ones, losslessly
    control = TuckerRankControl.build(3, tol=1e3, min_rank=(2, 1, 3))
    core, _, _ = sthosvd(A, [None] * 3, control)
    assert core.shape == (2, 1, 2)
    control = TuckerRankControl.build(3, tol=1e-12, max_rank=(3, 4, 5))
    core, _, _ = sthosvd(A, [None] * 3, control)
    assert core.shape == (3, 4, 5)


def test_make_admissible_is_lossless():
    Y = random_tucker(ranks=(2, 2, 4))
    rng = np.random.default_rng(3)
    # write Y in bases with one extra direction in mode 3: ranks (2, 2, 5) are inadmissible
    U3 = np.linalg.qr(np.concatenate([Y.factors[2], rng.standard_normal((18, 1))], axis=1))[0]
    core = np.einsum("abc,dc->abd", Y.core, U3.T @ Y.factors[2])
    C, factors = make_admissible(core, [Y.factors[0], Y.factors[1], U3])
    Z = TuckerTensor(C, factors)
    assert Z.ranks == (2, 2, 4)
    assert Z.distance(Y) <= 1e-13 * Y.norm()


def test_rank_control_messages():
    with pytest.raises(ValueError, match=r"rank\[1\] must be a positive integer"):
        TuckerRankControl.build(3, rank=(2, 0, 2))
    with pytest.raises(ValueError, match=r"max_rank must have one entry per mode \(3\)"):
        TuckerRankControl.build(3, max_rank=(2, 2))
    with pytest.raises(
        ValueError, match=r"min_rank\[0\] \(4\) must not exceed max_rank\[0\] \(3\)"
    ):
        TuckerRankControl.build(3, min_rank=4, max_rank=(3, None, None))
    with pytest.raises(ValueError, match="tol must be a finite number"):
        TuckerRankControl.build(3, tol=-1.0)
    with pytest.raises(TypeError, match="rank must be an int or a sequence"):
        TuckerRankControl.build(3, rank="2")
