"""TuckerTensor: validation, conventions, ST-HOSVD, norms, tensorly interop, backends."""

from __future__ import annotations

import numpy as np
import pytest
import tensorly
from tensorly.tucker_tensor import TuckerTensor as TlTucker
from tensorly.tucker_tensor import tucker_to_tensor

import dlra
from dlra.tucker import TuckerTensor, fold, mode_factor, mode_product, multi_mode_product, unfold

from .problems import RANKS, SHAPE, orthonormal, random_tucker


def test_unfolding_convention_matches_tensorly():
    """Matᵢ is numpy's C-order unfolding, identical to tensorly.base.unfold, and fold inverts it."""
    X = np.random.default_rng(0).standard_normal(SHAPE)
    for i in range(3):
        M = unfold(X, i)
        assert M.shape == (SHAPE[i], X.size // SHAPE[i])
        np.testing.assert_array_equal(M, tensorly.base.unfold(X, i))
        np.testing.assert_array_equal(fold(M, i, SHAPE), X)


def test_mode_product_and_kronecker_identity():
    """Matᵢ(C ×ⱼ Uⱼ) = Uᵢ Matᵢ(C) (⊗_{j≠i} Uⱼ)ᵀ with Kronecker factors in increasing j."""
    Y = random_tucker(complex_=True)
    A = Y.to_dense()
    for i in range(3):
        others = [U for j, U in enumerate(Y.factors) if j != i]
        expected = Y.factors[i] @ unfold(Y.core, i) @ np.kron(*others).T
        np.testing.assert_allclose(unfold(A, i), expected, atol=1e-13)
    M = np.random.default_rng(1).standard_normal((5, SHAPE[1]))
    np.testing.assert_allclose(unfold(mode_product(A, M, 1), 1), M @ unfold(A, 1), atol=1e-12)


def test_to_dense_matches_tensorly_oracle(xp):
    Y = random_tucker()
    Yx = TuckerTensor(xp.asarray(Y.core), [xp.asarray(U) for U in Y.factors])
    oracle = tucker_to_tensor((Y.core, list(Y.factors)))
    np.testing.assert_allclose(xp.to_numpy(Yx.to_dense()), oracle, atol=1e-13)
    assert Yx.shape == SHAPE and Yx.ranks == RANKS and Yx.ndim == 3
    assert Yx.norm() == pytest.approx(np.linalg.norm(oracle), rel=1e-13)


def test_mode_factor_splits_the_core():
    """C = Gᵢ ×ᵢ Sᵢ with orthonormal rows of Matᵢ(Gᵢ), for every mode."""
    C = random_tucker(complex_=True).core
    for i in range(3):
        S, G = mode_factor(C, i)
        assert S.shape == (RANKS[i], RANKS[i])
        np.testing.assert_allclose(mode_product(G, S, i), C, atol=1e-13)
        Gi = unfold(G, i)
        np.testing.assert_allclose(Gi @ Gi.conj().T, np.eye(RANKS[i]), atol=1e-13)


@pytest.mark.parametrize("complex_", [False, True])
def test_from_dense_reproduces_exact_multilinear_rank(complex_):
    Y = random_tucker(complex_=complex_)
    Z = TuckerTensor.from_dense(Y.to_dense())
    assert Z.ranks == RANKS
    assert Z.distance(Y) <= 1e-13 * Y.norm()
    Z = TuckerTensor.from_dense(Y.to_dense(), ranks=RANKS)
    assert Z.distance(Y) <= 1e-13 * Y.norm()


def test_from_dense_tolerance_bounds_the_error():
    """ST-HOSVD by tolerance: error ≤ tol, and a larger tolerance gives smaller ranks."""
    rng = np.random.default_rng(2)
    A = random_tucker().to_dense() + 1e-3 * rng.standard_normal(SHAPE)
    for tol in (0.03, 0.1, 0.5, 2.0):
        Z = TuckerTensor.from_dense(A, tol=tol)
        assert np.linalg.norm(Z.to_dense() - A) <= tol
    small, large = TuckerTensor.from_dense(A, tol=0.1), TuckerTensor.from_dense(A, tol=2.0)
    assert small.ranks == RANKS  # the noise (norm 0.057) is below the tolerance, spread over modes
    assert all(a <= b for a, b in zip(large.ranks, small.ranks)) and large.ranks != small.ranks
    Z = TuckerTensor.from_dense(A, rtol=1e-1)
    assert np.linalg.norm(Z.to_dense() - A) <= 1e-1 * np.linalg.norm(A)


def test_from_dense_close_to_tensorly_hooi():
    """ST-HOSVD is quasi-optimal: within √d of the best error, so within √3 of tensorly's HOOI."""
    rng = np.random.default_rng(4)
    A = rng.standard_normal(SHAPE)
    Z = TuckerTensor.from_dense(A, ranks=RANKS)
    core, factors = tensorly.decomposition.tucker(A, rank=list(RANKS), init="svd", n_iter_max=50)
    hooi = np.linalg.norm(tucker_to_tensor((core, factors)) - A)
    ours = np.linalg.norm(Z.to_dense() - A)
    assert hooi * (1 - 1e-12) <= ours <= np.sqrt(3) * hooi


def test_tensorly_round_trip_and_non_orthonormal_factors():
    Y = random_tucker(complex_=True)
    tl = Y.to_tensorly()
    assert isinstance(tl, TlTucker)
    assert TuckerTensor.from_tensorly(tl).distance(Y) <= 1e-13 * Y.norm()
    # tensorly does not require orthonormal factors: they are orthonormalized, the tensor kept
    rng = np.random.default_rng(5)
    core = rng.standard_normal((2, 3, 4))
    factors = [rng.standard_normal((n, r)) for n, r in zip(SHAPE, (2, 3, 4))]
    Z = TuckerTensor.from_tensorly(TlTucker((core, factors)))
    np.testing.assert_allclose(Z.to_dense(), tucker_to_tensor((core, factors)), atol=1e-12)
    # and inadmissible ranks are reduced without loss
    core = rng.standard_normal((6, 2, 2))
    factors = [rng.standard_normal((n, r)) for n, r in zip(SHAPE, (6, 2, 2))]
    Z = TuckerTensor.from_tensorly((core, factors))
    assert Z.ranks == (4, 2, 2)
    np.testing.assert_allclose(Z.to_dense(), tucker_to_tensor((core, factors)), atol=1e-12)


def test_distance_and_lowrank_conversion():
    Y, Z = random_tucker(seed=0), random_tucker(seed=1, ranks=(3, 3, 3))
    assert Y.distance(Z) == pytest.approx(np.linalg.norm(Y.to_dense() - Z.to_dense()), rel=1e-12)
    assert Y.distance(Y.to_dense()) <= 1e-13
    rng = np.random.default_rng(6)
    U, V = orthonormal(rng, 9, 3, True), orthonormal(rng, 7, 3, True)
    M = dlra.LowRankMatrix(U, rng.standard_normal((3, 3)) + 0j, V)
    T = TuckerTensor.from_lowrank(M)
    np.testing.assert_allclose(T.to_dense(), M.to_dense(), atol=1e-14)
    np.testing.assert_allclose(T.to_lowrank().to_dense(), M.to_dense(), atol=1e-14)
    # a low-rank object of the other kind is not a dense array
    with pytest.raises(TypeError, match="other must be a dense array"):
        M.distance(T)
    with pytest.raises(TypeError, match="the target dtype must have a floating or complex"):
        Y.astype(int)
    with pytest.raises(ValueError, match=r"i must be a mode index 0 … 2, got 5"):
        Y.singular_values(5)
    with pytest.raises(ValueError, match=r"factors\[0\] has 3 columns but the core has size 2"):
        TuckerTensor.from_tensorly(
            (np.ones((2, 2, 2)), [np.ones((5, 3)), np.eye(4, 2), np.eye(4, 2)])
        )


def test_torch_float32_and_complex(xp):
    Y = random_tucker(complex_=True)
    Yx = TuckerTensor(xp.asarray(Y.core), [xp.asarray(U) for U in Y.factors])
    assert Yx.backend.name == ("numpy" if xp.name == "numpy" else "torch")
    Z = TuckerTensor.from_dense(Yx.to_dense(), ranks=RANKS)
    assert Z.distance(Yx) <= 1e-12 * Y.norm()
    Y32 = random_tucker()
    core = xp.asarray(Y32.core.astype(np.float32))
    factors = [xp.asarray(U.astype(np.float32)) for U in Y32.factors]
    T32 = TuckerTensor(core, factors)
    assert str(T32.dtype).endswith("float32")
    assert T32.norm() == pytest.approx(Y32.norm(), rel=1e-5)


# -- bad input ----------------------------------------------------------------------------------
def test_rejects_non_orthonormal_factor():
    Y = random_tucker()
    factors = list(Y.factors)
    factors[1] = 2 * factors[1]
    with pytest.raises(ValueError, match=r"factors\[1\] must have orthonormal columns"):
        TuckerTensor(Y.core, factors)


def test_rejects_bad_shapes_and_ranks():
    Y = random_tucker()
    with pytest.raises(ValueError, match=r"factors\[2\] has shape \(18, 4\) but core has size 3"):
        TuckerTensor(np.zeros((2, 3, 3)), Y.factors)
    with pytest.raises(ValueError, match=r"3 modes .* but 2 factors"):
        TuckerTensor(Y.core, Y.factors[:2])
    with pytest.raises(ValueError, match="at least 2 modes"):
        TuckerTensor(np.ones(3), [Y.factors[0]])
    rng = np.random.default_rng(0)
    bad = [orthonormal(rng, n, r) for n, r in zip(SHAPE, (5, 2, 2))]
    with pytest.raises(ValueError, match=r"inadmissible ranks \(5, 2, 2\)"):
        TuckerTensor(np.ones((5, 2, 2)), bad)
    with pytest.raises(ValueError, match=r"inadmissible ranks"):
        TuckerTensor.from_dense(Y.to_dense(), ranks=(5, 2, 2))
    with pytest.raises(ValueError, match=r"ranks\[0\] = 13 exceeds the size 12"):
        TuckerTensor.from_dense(Y.to_dense(), ranks=(13, 3, 4))
    with pytest.raises(ValueError, match=r"rank must have one entry per mode \(3\)"):
        TuckerTensor.from_dense(Y.to_dense(), ranks=(2, 3))
    with pytest.raises(ValueError, match="either ranks or tol"):
        TuckerTensor.from_dense(Y.to_dense(), ranks=2, tol=0.1)


def test_rejects_bad_types():
    Y = random_tucker()
    with pytest.raises(TypeError, match="factors must be a sequence"):
        TuckerTensor(Y.core, Y.factors[0])
    with pytest.raises(TypeError, match="floating or complex dtype"):
        TuckerTensor(np.ones((2, 3, 4), dtype=int), Y.factors)
    with pytest.raises(TypeError, match="floating or complex dtype"):
        TuckerTensor.from_dense(np.ones(SHAPE, dtype=int))
    core = Y.core.copy()
    core[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="core contains NaN"):
        TuckerTensor(core, Y.factors)
    with pytest.raises(AttributeError, match="immutable"):
        Y.core = Y.core


def test_rejects_mixed_backends():
    torch = pytest.importorskip("torch")
    Y = random_tucker()
    factors = list(Y.factors)
    factors[2] = torch.as_tensor(factors[2])
    with pytest.raises(TypeError, match=r"mixed array backends.*factors\[2\] is a torch"):
        TuckerTensor(Y.core, factors)


def test_multi_mode_product_adjoint_projects():
    Y = random_tucker(complex_=True)
    back = multi_mode_product(Y.to_dense(), Y.factors, adjoint=True)
    np.testing.assert_allclose(back, Y.core, atol=1e-13)
