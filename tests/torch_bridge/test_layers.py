"""Factored layers: forward = dense equivalent, gradient conventions, construction, resizing."""

from __future__ import annotations

import copy
import io
import pickle

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

import torch_bridge as tb  # noqa: E402
from dlra.tucker import multi_mode_product, unfold  # noqa: E402
from torch_bridge._base import owner_of  # noqa: E402
from torch_bridge._functional import core_row_basis  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These problems are small: one thread is faster than two (and immune to a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


F64 = torch.float64
# float64 round-off on these sizes, with a generous factor for the summation order
TOL = 1e-12


def _matrix_layers(device):
    return [
        (tb.LowRankLinear(7, 6, 3, dtype=F64, device=device), torch.randn(5, 2, 7, dtype=F64)),
        (
            tb.LowRankConv2d(3, 5, 3, stride=2, padding=1, rank=2, dtype=F64, device=device),
            torch.randn(2, 3, 9, 8, dtype=F64),
        ),
        (
            tb.LowRankConv2d(2, 4, (3, 2), dilation=2, rank=3, dtype=F64, device=device),
            torch.randn(2, 2, 9, 8, dtype=F64),
        ),
    ]


def _reference_output(layer, dense_w, x):
    bias = layer.bias.detach()
    if isinstance(layer, tb.LowRankLinear):
        return x @ dense_w.mT + bias
    w = dense_w.reshape(layer.out_channels, layer.in_channels, *layer.kernel_size)
    return F.conv2d(x, w, bias, layer.stride, layer.padding, layer.dilation)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("index", [0, 1, 2])
def test_matrix_layer_forward_and_gradients(index, device):
    torch.manual_seed(index)
    layer, x = _matrix_layers(device)[index]
    x = x.to(device)
    dense = layer.to_dense()
    y = layer(x)
    assert torch.allclose(y, dense(x), atol=TOL, rtol=0)
    weights = torch.randn_like(y)

    # true partial derivatives by autograd on the explicit product U S Vᵀ
    u, s, v = (p.detach().clone().requires_grad_() for p in (layer.U, layer.S, layer.V))
    (_reference_output(layer, u @ s @ v.mT, x) * weights).sum().backward()
    (dense(x) * weights).sum().backward()
    g = dense.weight.grad.reshape(dense.weight.shape[0], -1)  # G = ∂L/∂W

    layer.grad_mode = "factors"
    (layer(x) * weights).sum().backward()
    for p, ref in ((layer.U, u), (layer.S, s), (layer.V, v)):
        assert torch.allclose(p.grad, ref.grad, atol=TOL, rtol=0)
    assert torch.allclose(layer.bias.grad, dense.bias.grad, atol=TOL, rtol=0)

    layer.zero_grad()
    layer.grad_mode = "kls"
    x_req = x.clone().requires_grad_()
    (layer(x_req) * weights).sum().backward()
    U, V = layer.U.detach(), layer.V.detach()
    assert torch.allclose(layer.U.grad, g @ V, atol=TOL, rtol=0)  # K-step gradient
    assert torch.allclose(layer.V.grad, g.mT @ U, atol=TOL, rtol=0)  # L-step gradient
    assert torch.allclose(layer.S.grad, U.mT @ g @ V, atol=TOL, rtol=0)
    x_ref = x.clone().requires_grad_()
    (dense(x_ref) * weights).sum().backward()
    assert torch.allclose(x_req.grad, x_ref.grad, atol=TOL, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_tucker_forward_and_gradients(device):
    layer = tb.TuckerConv2d(4, 6, 3, padding=1, rank=(3, 2, 2, 3), dtype=F64, device=device)
    assert layer.ranks == (3, 2, 2, 3)
    x = torch.randn(2, 4, 5, 5, dtype=F64, device=device)
    dense = layer.to_dense()
    assert torch.allclose(layer(x), dense(x), atol=TOL, rtol=0)
    w = torch.randn_like(dense(x))
    (dense(x) * w).sum().backward()
    g = dense.weight.grad
    (layer(x) * w).sum().backward()
    bases = [u.detach() for u in layer.bases()]
    core = layer.core.detach()
    assert torch.allclose(layer.core.grad, multi_mode_product(g, bases, adjoint=True), atol=TOL)
    for i, u in enumerate(layer.bases()):
        others = [None if j == i else b for j, b in enumerate(bases)]
        d_i = unfold(multi_mode_product(g, others, adjoint=True), i)
        assert torch.allclose(u.grad, d_i @ core_row_basis(core, i), atol=TOL, rtol=0)


def test_from_dense_rank_and_tolerance():
    dense = nn.Linear(20, 12, dtype=F64)
    with torch.no_grad():  # a weight of exact rank 3 plus a tail of norm 1e-3
        a, b = torch.randn(12, 3, dtype=F64), torch.randn(20, 3, dtype=F64)
        tail = torch.randn(12, 20, dtype=F64)
        dense.weight.copy_(a @ b.mT + 1e-3 * tail / tail.norm())
    layer = tb.LowRankLinear.from_dense(dense, tol=1e-2)
    assert layer.rank == 3
    assert (layer.weight_matrix() - dense.weight).norm() <= 1e-3 * (1 + 1e-9)
    assert torch.equal(layer.bias, dense.bias)
    assert tb.LowRankLinear.from_dense(dense, rank=5).rank == 5
    back = layer.to_dense()
    assert isinstance(back, nn.Linear)
    assert torch.allclose(back.weight, layer.weight_matrix().detach())

    conv = nn.Conv2d(3, 8, 3, padding=1, dtype=F64)
    lr_conv = tb.LowRankConv2d.from_dense(conv, rank=8)  # full rank of the 8 × 27 kernel matrix
    x = torch.randn(1, 3, 6, 6, dtype=F64)
    assert torch.allclose(lr_conv(x), conv(x), atol=TOL)
    tucker = tb.TuckerConv2d.from_dense(conv, rank=(8, 3, 3, 3))
    assert torch.allclose(tucker(x), conv(x), atol=TOL)
    assert tb.TuckerConv2d.from_dense(conv, rank=2).ranks == (2, 2, 2, 2)


def test_construction_errors():
    with pytest.raises(ValueError, match="give the initial rank"):
        tb.LowRankLinear(4, 4)
    with pytest.raises(ValueError, match="rank must be a positive integer"):
        tb.LowRankLinear(4, 4, rank=0)
    with pytest.raises(ValueError, match="exceeds min"):
        tb.LowRankLinear(4, 3, rank=4)
    with pytest.raises(ValueError, match="grad_mode"):
        tb.LowRankLinear(4, 4, rank=2, grad_mode="true")
    with pytest.raises(TypeError, match=r"nn\.Linear"):
        tb.LowRankLinear.from_dense(nn.Conv2d(2, 2, 1), rank=1)
    with pytest.raises(ValueError, match="groups=1"):
        tb.LowRankConv2d.from_dense(nn.Conv2d(2, 2, 3, groups=2), rank=1)
    with pytest.raises(ValueError, match="zero padding"):
        tb.LowRankConv2d(2, 2, 3, padding="same", rank=1)
    with pytest.raises(ValueError, match="4 ints"):
        tb.TuckerConv2d(2, 2, 3, rank=(1, 2))
    with pytest.raises(ValueError, match="either rank or tol"):
        tb.TuckerConv2d(2, 2, 3, rank=1, tol=0.1)
    with pytest.raises(TypeError, match="rank must be a positive integer or a sequence"):
        tb.TuckerConv2d(2, 2, 3, rank=2.0)
    with pytest.raises(ValueError, match="ranks must be positive integers"):
        tb.TuckerConv2d(2, 2, 3, rank=(1, 0, 1, 1))


def test_numpy_integer_ranks_are_ranks():
    np = pytest.importorskip("numpy")
    conv = nn.Conv2d(4, 6, 3)
    assert tb.TuckerConv2d.from_dense(conv, rank=np.int64(2)).ranks == (2, 2, 2, 2)
    assert tb.TuckerConv2d.from_dense(conv, rank=[np.int32(2), 3, 2, 1]).ranks == (2, 3, 2, 1)
    assert tb.LowRankLinear(4, 4, rank=np.int64(2)).rank == 2


def test_set_factors_allocates_current_rank_and_load_state_dict_resizes():
    layer = tb.LowRankLinear(10, 8, 2, dtype=F64)
    u_before = layer.U
    same = layer.set_factors(U=torch.zeros(8, 2, dtype=F64))
    assert same["U"] is u_before  # same shape: updated in place
    new = layer.set_factors(
        U=torch.eye(8, 5, dtype=F64), S=torch.eye(5, dtype=F64), V=torch.eye(10, 5, dtype=F64)
    )
    assert new["U"] is not u_before and layer.rank == 5
    assert layer.allocated_parameters() == 8 * 5 + 5 * 5 + 10 * 5 + 8
    assert owner_of(layer.U) == (layer, "U")

    fresh = tb.LowRankLinear(10, 8, 3, dtype=F64)
    fresh.load_state_dict(layer.state_dict())
    assert fresh.rank == 5 and torch.equal(fresh.S, layer.S)
    assert owner_of(fresh.S) == (fresh, "S")


def test_copies_keep_the_factor_registry():
    model = nn.Sequential(tb.LowRankLinear(4, 3, 2), tb.TuckerConv2d(2, 2, 3, rank=1))
    clone = copy.deepcopy(model)
    assert owner_of(clone[0].U) == (clone[0], "U")
    assert owner_of(clone[1].core) == (clone[1], "core")
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert owner_of(loaded[0].V) == (loaded[0], "V")
    assert pickle.loads(pickle.dumps(model[0])).rank == 2
    moved = model.to(F64)
    assert owner_of(moved[0].S) == (moved[0], "S")


def test_rank_and_tolerance_together_are_rejected_and_numpy_ranks_accepted():
    import numpy as np

    with pytest.raises(ValueError, match="either rank or tol/rtol, not both"):
        tb.LowRankLinear(8, 8, rank=4, rtol=0.9)
    with pytest.raises(ValueError, match="either rank or tol/rtol, not both"):
        tb.LowRankConv2d(2, 4, 3, rank=2, tol=0.1)
    assert tb.LowRankLinear(8, 6, rank=np.int64(2)).rank == 2


@pytest.mark.parametrize("assign", [False, True])
def test_loaded_factors_stay_factors(assign):
    """``load_state_dict(assign=True)`` puts new Parameter objects in place: they must still be
    the layer's factors, so the optimizer takes BUG steps (orthonormal U, diagonal S)."""
    torch.manual_seed(0)
    saved = tb.LowRankLinear(8, 6, rank=3).state_dict()
    layer = tb.LowRankLinear(8, 6, rank=3)
    layer.load_state_dict({k: v.clone() for k, v in saved.items()}, assign=assign)
    assert owner_of(layer.U)[0] is layer and owner_of(layer.S)[0] is layer
    opt = tb.ParallelBUG(layer.parameters(), lr=0.5, rtol=0.3)
    x = torch.randn(16, 8)
    for _ in range(3):
        opt.zero_grad()
        layer(x).pow(2).mean().backward()
        opt.step()
    eye = torch.eye(layer.rank)
    assert (layer.U.T @ layer.U - eye).abs().max() < 1e-5
    assert (layer.S - torch.diag(torch.diagonal(layer.S))).abs().max() == 0


def _layers_for_autocast():
    torch.manual_seed(1)
    return [
        (tb.LowRankLinear(16, 8, rank=4), torch.randn(4, 16)),
        (tb.LowRankConv2d(3, 4, 3, padding=1, rank=2), torch.randn(2, 3, 8, 8)),
        (tb.TuckerConv2d(3, 4, 3, padding=1, rank=2), torch.randn(2, 3, 8, 8)),
    ]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_autocast_computes_in_its_dtype_with_float32_gradients(index):
    layer, x = _layers_for_autocast()[index]
    layer(x).sum().backward()
    reference = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    assert y.dtype == torch.bfloat16  # like nn.Linear and nn.Conv2d under autocast
    y.float().sum().backward()
    for p, ref in zip(layer.parameters(), reference):
        assert p.grad.dtype == torch.float32
        # bfloat16 keeps 8 bits: relative agreement to a few 1e-2
        assert (p.grad - ref).norm() <= 5e-2 * ref.norm() + 1e-6


def test_conv2d_takes_one_unbatched_image_like_nn_conv2d():
    torch.manual_seed(2)
    layer = tb.LowRankConv2d(3, 4, 3, padding=1, rank=2, dtype=F64)
    x = torch.randn(3, 8, 8, dtype=F64)
    y = layer(x)
    assert y.shape == (4, 8, 8)
    y.pow(2).sum().backward()
    grads = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    batched = layer(x[None])
    assert torch.allclose(batched[0], y, rtol=0, atol=TOL)
    batched.pow(2).sum().backward()
    for p, g in zip(layer.parameters(), grads):
        assert torch.allclose(p.grad, g, rtol=0, atol=TOL)
