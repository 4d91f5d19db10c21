"""peft-style adapters: wrapping by name, trainable counts, training by the parallel BUG with
adaptive ranks, adapter-only save/load at changed ranks, merge_and_unload."""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import torch_bridge as tb  # noqa: E402

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Net(nn.Module):
    """A small "pretrained" network with a convolution and two linear layers."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1, dtype=F64)
        self.fc1 = nn.Linear(16, 24, dtype=F64)
        self.fc2 = nn.Linear(24, 32, dtype=F64)  # injective: a change of fc1 is identifiable

    def forward(self, x):
        h = x + self.conv(x.reshape(-1, 1, 4, 4)).sum(1).flatten(1)
        return self.fc2(torch.tanh(self.fc1(h)))


def _loss(model, x, y):
    return 0.5 * (model(x) - y).pow(2).sum(1).mean()


def _base_and_target():
    """A pretrained net and a target net differing by a rank-2 change of fc1 (σ = 2, 1)."""
    torch.manual_seed(0)
    base = Net()
    target = Net()
    target.load_state_dict(base.state_dict())
    g = torch.Generator().manual_seed(1)
    a = torch.linalg.qr(torch.randn(24, 2, generator=g, dtype=F64))[0]
    b = torch.linalg.qr(torch.randn(16, 2, generator=g, dtype=F64))[0]
    with torch.no_grad():
        target.fc1.weight.add_(a @ torch.diag(torch.tensor([2.0, 1.0], dtype=F64)) @ b.mT)
        target.conv.weight.zero_()
        base.conv.weight.zero_()  # the conv path is the identity: x enters fc1 unchanged
    x = torch.randn(256, 16, generator=g, dtype=F64)
    with torch.no_grad():
        y = target(x)
    return base, x, y


def test_wrapping_counts_and_identity_at_start(capsys):
    base, x, _ = _base_and_target()
    with torch.no_grad():
        before = base(x)
    model = tb.get_dlra_model(base, tb.DLRAConfig(target_modules=["fc1", "conv"], r=2))
    assert set(model.adapters()) == {"fc1", "conv"}
    assert isinstance(model.base_model.fc2, nn.Linear)  # untouched
    trainable, total = model.get_nb_trainable_parameters()
    expected = (24 * 2 + 4 + 16 * 2) + (2 * 2 + 4 + 9 * 2)  # U, S, V of fc1 and conv
    assert trainable == expected
    assert total == expected + sum(p.numel() for p in Net().parameters())
    model.print_trainable_parameters()
    assert f"trainable params: {expected:,d}" in capsys.readouterr().out
    with torch.no_grad():
        assert torch.equal(model(x), before)  # S = 0: the model is unchanged at the start


def test_regex_target_and_errors():
    model = tb.get_dlra_model(Net(), tb.DLRAConfig(target_modules=r"fc\d", r=2))
    assert set(model.adapters()) == {"fc1", "fc2"}
    with pytest.raises(ValueError, match="match no module"):
        tb.get_dlra_model(Net(), tb.DLRAConfig(target_modules=["head"], r=2))
    with pytest.raises(TypeError, match=r"nn\.Linear or nn\.Conv2d"):
        tb.LowRankAdapter(nn.Tanh(), r=2)
    with pytest.raises(ValueError, match="r must be a positive integer"):
        tb.DLRAConfig(target_modules=["fc1"], r=0)
    for r in (0, -1, 2.0):
        with pytest.raises(ValueError, match="r must be a positive integer"):
            tb.LowRankAdapter(nn.Linear(4, 4), r=r)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_adapters_on_a_half_precision_base_train_in_float32(dtype):
    """As peft's autocast_adapter_dtype: the factors of an adapter on a half-precision base are
    float32 (the optimizer's QR and SVD need it); the model's outputs keep the base's dtype."""
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 4)).to(dtype)
    model = tb.get_dlra_model(base, tb.DLRAConfig(target_modules=["0", "2"], r=4, rtol=0.1))
    adapter = model.adapters()["0"]
    assert {p.dtype for p in adapter.factor_parameters()} == {torch.float32}
    opt = model.make_optimizer(0.05)
    x, y = torch.randn(64, 16, dtype=dtype), torch.randn(64, 4, dtype=dtype)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        out = model(x)
        assert out.dtype == dtype
        loss = (out.float() - y.float()).pow(2).mean()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    eye = torch.eye(adapter.rank)
    assert (adapter.U.detach().mT @ adapter.U.detach() - eye).abs().max() < 1e-5
    merged = model.merge_and_unload()
    assert merged[0].weight.dtype == dtype


def test_adapter_learns_the_rank_of_the_change():
    base, x, y = _base_and_target()
    model = tb.get_dlra_model(base, tb.DLRAConfig(target_modules=["fc1"], r=4, rtol=0.02))
    opt = model.make_optimizer(lr=1.0)
    assert isinstance(opt, tb.ParallelBUG)
    frozen = model.base_model.fc1.base.weight.detach().clone()
    loss0 = _loss(model, x, y).item()
    for _ in range(150):
        opt.zero_grad()
        loss = _loss(model, x, y)
        loss.backward()
        opt.step()
    assert loss.item() < 1e-4 * loss0
    assert model.ranks() == {"fc1": 2}  # the rank of the change
    assert torch.equal(model.base_model.fc1.base.weight, frozen)


def test_save_load_only_adapters_at_changed_ranks_and_merge(tmp_path):
    base, x, y = _base_and_target()
    config = tb.DLRAConfig(target_modules=["conv", "fc1", "fc2"], r=2, rtol=0.05, alpha=4)
    model = tb.get_dlra_model(base, config)
    opt = model.make_optimizer(lr=0.5)
    for _ in range(10):
        opt.zero_grad()
        _loss(model, x, y).backward()
        opt.step()
    ranks = model.ranks()
    assert ranks != {"conv": 2, "fc1": 2, "fc2": 2}

    model.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["adapter_config.json", "adapter_model.pt"]
    saved = torch.load(tmp_path / "adapter_model.pt", weights_only=True)
    assert sorted(saved) == sorted(f"{m}.{f}" for m in ranks for f in "USV")  # adapters only
    with torch.no_grad():
        out = model(x)

    fresh_base, _, _ = _base_and_target()
    loaded = tb.DLRAModel.from_pretrained(fresh_base, tmp_path)  # built at r=2, loads the ranks
    assert loaded.ranks() == ranks
    with torch.no_grad():
        assert torch.allclose(loaded(x), out, atol=1e-13)

    merged = loaded.merge_and_unload()
    assert isinstance(merged.fc1, nn.Linear) and isinstance(merged.conv, nn.Conv2d)
    assert not tb.factored_modules(merged)
    with torch.no_grad():
        assert torch.allclose(merged(x), out, atol=1e-12)


def test_scaling_is_fixed_across_rank_changes():
    base, x, y = _base_and_target()
    model = tb.get_dlra_model(base, tb.DLRAConfig(target_modules=["fc1"], r=4, rtol=0.05, alpha=8))
    opt = model.make_optimizer(lr=0.5)
    adapter = model.adapters()["fc1"]
    for _ in range(20):
        opt.zero_grad()
        _loss(model, x, y).backward()
        opt.step()
        # the adapter is always scaling·U S Vᵀ with the initial scaling alpha / r₀ = 2
        assert adapter.scaling == 2.0
        with torch.no_grad():
            expected = adapter.base(x) + 2.0 * (x @ adapter.weight_matrix().mT)
            assert torch.allclose(adapter(x), expected, atol=1e-12)
    assert adapter.rank != 4


def test_fixed_rank_adapters_without_tolerance():
    base, x, y = _base_and_target()
    model = tb.get_dlra_model(base, tb.DLRAConfig(target_modules=["fc1"], r=3))
    opt = model.make_optimizer(lr=0.01, substep="adam")
    assert isinstance(opt, tb.FixedRankParallelBUG)
    loss0 = _loss(model, x, y).item()
    for _ in range(5):
        opt.zero_grad()
        _loss(model, x, y).backward()
        opt.step()
    assert model.ranks() == {"fc1": 3}
    assert _loss(model, x, y).item() < loss0
