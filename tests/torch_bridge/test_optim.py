"""The DLRA optimizers: agreement with the core integrators, rank adaptivity on a teacher–student
problem, torch.optim conventions (state_dict across rank changes, schedulers), pass counting."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import dlra  # noqa: E402
import torch_bridge as tb  # noqa: E402
from dlra.tucker import TuckerTensor  # noqa: E402
from torch_bridge.problems import teacher_student  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These problems are small: one thread is faster than two (and immune to a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


F64 = torch.float64
EPS64 = torch.finfo(F64).eps

# (optimizer, core method, rank options): the optimizer step on L(W) = ½‖W − A‖² must equal one
# step of the core integrator with Euler substeps on Ẏ = A − Y (the same gradient flow).
SCHEMES = [
    (tb.ParallelBUG, "parallel_bug", {"rtol": 0.05}),
    (tb.AugmentedBUG, "adaptive_bug", {"rtol": 0.05}),
    (tb.FixedRankParallelBUG, "parallel_bug", {}),
    (tb.FixedRankAugmentedBUG, "augmented_bug", {}),
]


def _train_step(opt, closure):
    """One optimizer step the way a user writes it for either kind of optimizer."""
    if isinstance(opt, tb.AugmentedBUG):
        return opt.step(closure)
    loss = closure()
    opt.step()
    return loss


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("opt_cls", "method", "options"), SCHEMES)
def test_matrix_step_equals_core_integrator(opt_cls, method, options, device):
    n, m, r, h = 12, 9, 3, 0.3
    a = torch.randn(n, m, dtype=F64, device=device)
    layer = tb.LowRankLinear(m, n, r, bias=False, dtype=F64, device=device)
    y0 = dlra.LowRankMatrix(*(p.detach().clone() for p in (layer.U, layer.S, layer.V)))
    eye = torch.eye(m, dtype=F64, device=device)
    opt = opt_cls(layer.parameters(), lr=h, **options)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (layer(eye) - a.mT).pow(2).sum()  # layer(I) = Wᵀ
        loss.backward()
        return loss

    _train_step(opt, closure)
    rank_options = options or {"rank": r}
    y1 = dlra.get_integrator(method, substep="euler", **rank_options).step(
        lambda t, y: a - y, y0, 0.0, h
    )
    assert layer.rank == y1.rank
    err = (layer.weight_matrix().detach() - y1.to_dense()).abs().max()
    assert err <= 100 * EPS64 * a.abs().max()


@pytest.mark.parametrize(("opt_cls", "method", "options"), SCHEMES)
def test_tucker_step_equals_core_integrator(opt_cls, method, options):
    h, ranks = 0.3, (3, 2, 2, 2)
    layer = tb.TuckerConv2d(5, 6, 3, rank=ranks, bias=False, dtype=F64)
    a = torch.randn(6, 5, 3, 3, dtype=F64)
    y0 = TuckerTensor(layer.core.detach().clone(), [u.detach().clone() for u in layer.bases()])
    opt = opt_cls(layer.parameters(), lr=h, **options)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (layer.kernel() - a).pow(2).sum()
        loss.backward()
        return loss

    _train_step(opt, closure)
    rank_options = options or {"rank": ranks}
    integrator = dlra.get_integrator(method, kind="tucker", substep="euler", **rank_options)
    y1 = integrator.step(lambda t, y: a - y, y0, 0.0, h)
    assert layer.ranks == tuple(y1.ranks)
    err = (layer.to_dense().weight.detach() - y1.to_dense()).abs().max()
    assert err <= 100 * EPS64 * a.abs().max()


# -- teacher–student ---------------------------------------------------------------------------------
# Teacher hidden layer of rank 4 (σ = 2, 1, 0.5, 0.25), known readout: the only minimizer is the
# teacher's weight.  300 full-batch steps at lr 2 (stable for every method here).
STEPS, LR = 300, 2.0


def _fit(problem, first, make_opt):
    model = problem.student(first)
    opt = make_opt([p for p in model.parameters() if p.requires_grad])

    def closure():
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(problem.x_train), problem.y_train)
        loss.backward()
        return loss

    for _ in range(STEPS):
        _train_step(opt, closure)
    return model


@pytest.fixture(scope="module")
def problem():
    return teacher_student()


@pytest.fixture(scope="module")
def dense_error(problem):
    torch.manual_seed(2)
    model = _fit(problem, nn.Linear(32, 32, dtype=F64), lambda p: torch.optim.SGD(p, LR))
    return problem.relative_error(model)


@pytest.mark.parametrize("opt_cls", [tb.ParallelBUG, tb.AugmentedBUG])
def test_adaptive_optimizers_find_the_teacher_rank_and_match_dense(problem, dense_error, opt_cls):
    torch.manual_seed(2)
    first = tb.LowRankLinear(32, 32, 8, dtype=F64)  # start above the teacher's rank
    model = _fit(problem, first, lambda p: opt_cls(p, LR, rtol=0.05))
    assert first.rank == problem.rank
    assert problem.relative_error(model) <= dense_error
    assert problem.agreement(model) >= 0.99


def test_plain_sgd_on_fixed_rank_factors_does_worse_at_equal_rank(problem, dense_error):
    torch.manual_seed(2)
    uv = _fit(
        problem,
        tb.FactorizedLinear(32, 32, problem.rank, dtype=F64),
        lambda p: torch.optim.SGD(p, LR),
    )
    torch.manual_seed(2)
    bug = _fit(
        problem,
        tb.LowRankLinear(32, 32, problem.rank, dtype=F64),
        lambda p: tb.FixedRankParallelBUG(p, LR),
    )
    # Same rank, same start (the truncated SVD of the same initialization), same steps and lr:
    # small singular directions are learned at a speed ∝ σ by plain SGD on U Vᵀ.
    assert problem.relative_error(uv) > 2 * problem.relative_error(bug)
    assert problem.relative_error(uv) > dense_error


# -- conventions -----------------------------------------------------------------------------------


def _rank4_regression(rank=1, dtype=F64):
    """Gradient flow of ½‖W − A‖² with A of rank 4 (singular values 4, 3, 2, 1)."""
    g = torch.Generator().manual_seed(5)
    u = torch.linalg.qr(torch.randn(20, 4, generator=g, dtype=F64))[0]
    v = torch.linalg.qr(torch.randn(16, 4, generator=g, dtype=F64))[0]
    a = (u @ torch.diag(torch.tensor([4.0, 3.0, 2.0, 1.0], dtype=F64)) @ v.mT).to(dtype)
    layer = tb.LowRankLinear(16, 20, rank, bias=True, dtype=dtype)
    eye = torch.eye(16, dtype=dtype)

    def loss_fn():
        return 0.5 * (layer(eye) - layer.bias - a.mT).pow(2).sum() + 0.5 * layer.bias.pow(2).sum()

    return layer, a, loss_fn


@pytest.mark.parametrize(
    ("substep", "lr", "rtol", "steps"), [("euler", 0.5, 1e-3, 40), ("adam", 0.05, 1e-2, 200)]
)
def test_parameters_follow_the_rank_and_optimizer_tracks_them(substep, lr, rtol, steps):
    layer, _, loss_fn = _rank4_regression(rank=1)
    opt = tb.ParallelBUG(layer.parameters(), lr=lr, rtol=rtol, substep=substep)
    seen_ranks = set()
    for _ in range(steps):
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
        r = layer.rank
        seen_ranks.add(r)
        assert layer.U.shape == (20, r) and layer.S.shape == (r, r) and layer.V.shape == (16, r)
        assert tb.count_parameters(layer)["allocated"] == 20 * r + r * r + 16 * r + 20
        params = opt.param_groups[0]["params"]
        assert any(p is layer.U for p in params) and any(p is layer.S for p in params)
        if substep == "adam":
            assert len(opt.state) == 4  # U, S, V and the bias: no stale entries
            assert opt.state[layer.U]["exp_avg"].shape == layer.U.shape
            assert opt.state[layer.V]["exp_avg"].shape == layer.V.shape
            assert opt.state[layer.S]["exp_avg_sq"].shape == layer.S.shape
        else:
            assert len(opt.state) == 0  # explicit Euler keeps no state
    assert len(seen_ranks) > 1 and layer.rank == 4
    assert opt.ranks() == [(4,)]
    assert float(loss_fn().detach()) < 1e-6 * 15.0  # ½‖A‖² = 15 at W = 0


@pytest.mark.parametrize("substep", ["euler", "adam"])
def test_state_dict_round_trip_across_rank_changes(substep, tmp_path):
    def make():
        torch.manual_seed(0)
        layer, _, loss_fn = _rank4_regression(rank=1)
        opt = tb.ParallelBUG(layer.parameters(), lr=0.3, rtol=1e-3, substep=substep)
        return layer, opt, loss_fn

    def train(layer, opt, loss_fn, steps):
        for _ in range(steps):
            opt.zero_grad()
            loss_fn().backward()
            opt.step()

    layer, opt, loss_fn = make()
    train(layer, opt, loss_fn, 5)
    assert layer.rank > 1
    torch.save({"model": layer.state_dict(), "opt": opt.state_dict()}, tmp_path / "ckpt.pt")
    train(layer, opt, loss_fn, 5)

    layer2, opt2, loss_fn2 = make()  # rank 1 again: loading resizes the factors
    ckpt = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    layer2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["opt"])
    train(layer2, opt2, loss_fn2, 5)
    assert layer2.rank == layer.rank
    for name in ("U", "S", "V", "bias"):
        assert torch.equal(getattr(layer2, name), getattr(layer, name))


def test_optimizer_state_must_match_the_model_ranks():
    layer, _, loss_fn = _rank4_regression(rank=1)
    opt = tb.ParallelBUG(layer.parameters(), lr=0.3, rtol=1e-3, substep="adam")
    for _ in range(3):
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    state = opt.state_dict()
    layer2, _, _ = _rank4_regression(rank=1)
    opt2 = tb.ParallelBUG(layer2.parameters(), lr=0.3, rtol=1e-3, substep="adam")
    with pytest.raises(ValueError, match="load the model's state_dict"):
        opt2.load_state_dict(state)


def test_lr_scheduler_in_an_ordinary_loop():
    layer, _, loss_fn = _rank4_regression(rank=2)
    opt = tb.ParallelBUG(layer.parameters(), lr=0.4, rtol=1e-6)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    losses = []
    for epoch in range(30):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        scheduler.step()
        losses.append(loss.item())
        assert opt.param_groups[0]["lr"] == pytest.approx(0.4 * 0.5 ** ((epoch + 1) // 10))
    assert losses[-1] < 1e-3 * losses[0]
    # with lr = 0 nothing moves: the scheduler's value is the step size that is used
    opt.param_groups[0]["lr"] = 0.0
    w = layer.weight_matrix().detach().clone()
    opt.zero_grad()
    loss_fn().backward()
    opt.step()
    assert torch.allclose(layer.weight_matrix(), w, atol=1e-12)


class _PassCounter(nn.Module):
    def __init__(self):
        super().__init__()
        self.forward_calls = 0
        self.backward_calls = 0
        self.register_full_backward_hook(self._count_backward)

    def _count_backward(self, *args):
        self.backward_calls += 1

    def forward(self, x):
        self.forward_calls += 1
        return x


@pytest.mark.parametrize(
    ("make_opt", "passes"),
    [
        (lambda p: tb.ParallelBUG(p, 0.1, rtol=0.1), 1),
        (lambda p: tb.FixedRankParallelBUG(p, 0.1, substep="adam"), 1),
        (lambda p: tb.AugmentedBUG(p, 0.1, rtol=0.1), 2),
        (lambda p: tb.FixedRankAugmentedBUG(p, 0.1), 2),
    ],
)
def test_passes_per_step(make_opt, passes):
    counter = _PassCounter()
    model = nn.Sequential(
        tb.LowRankLinear(6, 8, 2), nn.ReLU(), counter, tb.LowRankConv2d(1, 2, 1, rank=1)
    )

    def net(x):
        return model[3](model[:3](x).reshape(-1, 1, 2, 4))

    x, y = torch.randn(5, 6), torch.randn(5, 2, 2, 4)
    opt = make_opt(model.parameters())

    def closure():
        opt.zero_grad()
        loss = (net(x) - y).pow(2).mean()
        loss.backward()
        return loss

    for k in range(1, 4):
        opt.step(closure)
        assert counter.forward_calls == counter.backward_calls == passes * k
        assert opt.evaluations == passes * k


@pytest.mark.parametrize("opt_cls", [tb.ParallelBUG, tb.AugmentedBUG])
def test_max_condition_bounds_cond_s(problem, opt_cls):
    kappa = 1.5
    torch.manual_seed(2)
    first = tb.LowRankLinear(32, 32, 6, dtype=F64)
    model = problem.student(first)
    opt = opt_cls(
        [p for p in model.parameters() if p.requires_grad], 1.0, rtol=0.01, max_condition=kappa
    )

    def closure():
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(problem.x_train), problem.y_train)
        loss.backward()
        return loss

    losses = []
    for _ in range(30):
        losses.append(_train_step(opt, closure).item())
        sigma = torch.linalg.svdvals(first.S.detach())
        assert sigma[0] <= kappa * sigma[-1] * (1 + 1e-12)
    assert losses[-1] < losses[0]  # still trains (the teacher itself has cond 8)


def test_clamp_condition_formula():
    from torch_bridge._plans import clamp_condition

    sigma = torch.tensor([10.0, 4.0, 1.0, 0.1], dtype=F64)
    for kappa in (1.0, 1.1, 1.5, 3.0):
        out = clamp_condition(sigma, kappa)
        mu = sigma.mean()
        e = mu * (kappa - 1) / (kappa + 1)
        assert out.max() == pytest.approx(float(mu + e)) and out.min() == pytest.approx(
            float(mu - e)
        )
        assert float(out.max() / out.min()) == pytest.approx(kappa)
    assert torch.equal(clamp_condition(sigma, 100.0), sigma)  # cond 100 ≤ κ: unchanged


def test_tucker_layer_finds_the_multilinear_rank():
    g = torch.Generator().manual_seed(3)
    target = tb.TuckerConv2d(6, 8, 3, rank=(3, 2, 2, 3), dtype=F64)
    with torch.no_grad():
        target.core.copy_(torch.randn(target.core.shape, generator=g, dtype=F64))
    a = target.to_dense().weight.detach()
    layer = tb.TuckerConv2d(6, 8, 3, rank=1, bias=False, dtype=F64)
    opt = tb.ParallelBUG(layer.parameters(), lr=0.5, rtol=1e-4)
    for _ in range(60):
        opt.zero_grad()
        (0.5 * (layer.kernel() - a).pow(2).sum()).backward()
        opt.step()
    assert layer.ranks == (3, 2, 2, 3)
    assert (layer.to_dense().weight - a).norm() <= 1e-3 * a.norm()


@pytest.mark.parametrize(("substep", "lr", "rtol"), [("euler", 0.3, 1e-3), ("adam", 0.05, 1e-2)])
def test_bases_stay_orthonormal_in_float32(substep, lr, rtol):
    layer, _, loss_fn = _rank4_regression(rank=2, dtype=torch.float32)
    opt = tb.ParallelBUG(layer.parameters(), lr=lr, rtol=rtol, substep=substep)
    for _ in range(300):
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    eye = torch.eye(layer.rank)
    # the optimizer re-orthonormalizes when the defect exceeds 100·eps·r: one step's round-off
    # beyond that at most, however many steps are taken
    bound = 200 * torch.finfo(torch.float32).eps * layer.rank
    for basis in (layer.U, layer.V):
        assert (basis.detach().mT @ basis.detach() - eye).abs().max() <= bound
    assert layer.rank == 4
    assert float(loss_fn().detach()) < 1e-4 * 15.0  # float32 round-off level of ½‖A‖² = 15


def test_validation_messages():
    layer = tb.LowRankLinear(4, 4, 2)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        tb.ParallelBUG(layer.parameters(), lr=-1, rtol=0.1)
    with pytest.raises(TypeError, match="learning rate must be a real number"):
        tb.ParallelBUG(layer.parameters(), lr="0.1", rtol=0.1)
    with pytest.raises(ValueError, match="give tol and/or rtol"):
        tb.ParallelBUG(layer.parameters(), lr=0.1)
    with pytest.raises(TypeError):
        tb.FixedRankParallelBUG(layer.parameters(), lr=0.1, tol=0.1)
    with pytest.raises(ValueError, match="substep"):
        tb.AugmentedBUG(layer.parameters(), lr=0.1, rtol=0.1, substep="rk4")
    with pytest.raises(ValueError, match="max_condition"):
        tb.ParallelBUG(layer.parameters(), lr=0.1, rtol=0.1, max_condition=0.5)
    with pytest.raises(ValueError, match="betas"):
        tb.ParallelBUG(layer.parameters(), lr=0.1, rtol=0.1, betas=(0.9, 1.0))
    with pytest.raises(RuntimeError, match="needs a closure"):
        tb.AugmentedBUG(layer.parameters(), lr=0.1, rtol=0.1).step()
    opt = tb.ParallelBUG(
        [{"params": [layer.U, layer.V]}, {"params": [layer.S, layer.bias], "lr": 0.2}],
        lr=0.1,
        rtol=0.1,
    )
    layer(torch.randn(3, 4)).sum().backward()
    with pytest.raises(ValueError, match="split over parameter groups"):
        opt.step()
    opt = tb.ParallelBUG([layer.U, layer.S], lr=0.1, rtol=0.1)
    with pytest.raises(ValueError, match="only some factors"):
        opt.step()
    layer.grad_mode = "factors"
    opt = tb.ParallelBUG(layer.parameters(), lr=0.1, rtol=0.1)
    with pytest.raises(ValueError, match="grad_mode='kls'"):
        opt.step()


def test_partly_frozen_layer_is_refused_and_a_frozen_one_skipped():
    torch.manual_seed(0)
    layer = tb.LowRankLinear(6, 6, rank=2)
    opt = tb.ParallelBUG(layer.parameters(), lr=0.1, rtol=0.01)
    layer.U.requires_grad_(False)
    layer.V.requires_grad_(False)
    layer(torch.randn(8, 6)).pow(2).sum().backward()
    before = [p.detach().clone() for p in layer.parameters()]
    with pytest.raises(ValueError, match=r"factors \['U', 'V'\] of LowRankLinear are frozen"):
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters(), strict=True))
    layer.S.requires_grad_(False)  # all factors frozen: the layer is left alone, the bias moves
    opt.step()
    assert torch.equal(layer.S, before[1]) and not torch.equal(layer.bias, before[3])


def test_options_tucker_layers_lack_are_refused_before_any_step():
    model = nn.Sequential(tb.LowRankLinear(8, 8, rank=2), tb.TuckerConv2d(2, 2, 3, rank=1))
    with pytest.raises(ValueError, match="substep='adam' is implemented for matrix layers"):
        tb.ParallelBUG(model.parameters(), lr=0.1, rtol=0.1, substep="adam")
    with pytest.raises(ValueError, match="max_condition applies to matrix layers"):
        tb.ParallelBUG(model.parameters(), lr=0.1, rtol=0.1, max_condition=10.0)
    # a group edited after construction: refused at the step, before the matrix layer moves
    opt = tb.ParallelBUG(model.parameters(), lr=0.1, rtol=0.1)
    opt.param_groups[0]["substep"] = "adam"
    x = torch.randn(3, 8)
    (model[0](x).sum() + model[1](torch.randn(1, 2, 5, 5)).sum()).backward()
    before = model[0].S.detach().clone()
    with pytest.raises(ValueError, match="matrix layers only"):
        opt.step()
    assert torch.equal(model[0].S, before) and not opt.state


def test_half_precision_factors_get_a_clear_error():
    layer = tb.LowRankLinear(6, 6, rank=2).to(torch.bfloat16)
    opt = tb.ParallelBUG(layer.parameters(), lr=0.1, rtol=0.01)
    layer(torch.randn(4, 6, dtype=torch.bfloat16)).float().pow(2).sum().backward()
    with pytest.raises(TypeError, match=r"torch\.bfloat16: the DLRA optimizers need float32"):
        opt.step()


def test_zero_learning_rate_is_accepted_as_in_torch_optim():
    torch.manual_seed(0)
    layer = tb.LowRankLinear(6, 6, rank=2, dtype=F64)
    opt = tb.FixedRankParallelBUG(layer.parameters(), lr=0.0)
    w = layer.weight_matrix().detach().clone()
    layer(torch.randn(4, 6, dtype=F64)).pow(2).sum().backward()
    opt.step()
    assert torch.allclose(layer.weight_matrix(), w, atol=1e-14)


def test_dense_parameters_follow_sgd_and_adam():
    for substep, reference in (("euler", torch.optim.SGD), ("adam", torch.optim.Adam)):
        torch.manual_seed(0)
        lin = nn.Linear(3, 2, dtype=F64)
        ref = nn.Linear(3, 2, dtype=F64)
        ref.load_state_dict(lin.state_dict())
        opt = tb.FixedRankParallelBUG(lin.parameters(), lr=0.1, substep=substep, weight_decay=0.01)
        ref_opt = reference(ref.parameters(), lr=0.1, weight_decay=0.01)
        x = torch.randn(4, 3, dtype=F64)
        for _ in range(5):
            for m, o in ((lin, opt), (ref, ref_opt)):
                o.zero_grad()
                m(x).pow(2).sum().backward()
                o.step()
        assert torch.allclose(lin.weight, ref.weight, atol=1e-14)
        assert torch.allclose(lin.bias, ref.bias, atol=1e-14)


def test_a_rejected_param_group_is_not_kept():
    model = torch.nn.Sequential(tb.LowRankLinear(8, 6, rank=3), torch.nn.Linear(6, 1))
    opt = tb.ParallelBUG(model[0].parameters(), lr=0.1, rtol=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        opt.add_param_group({"params": model[1].parameters(), "lr": -1.0})
    assert len(opt.param_groups) == 1
    with pytest.raises(TypeError, match=r"betas must be a pair"):
        tb.ParallelBUG(model[0].parameters(), lr=0.1, rtol=0.1, betas=0.9)


def test_wrap_ddp_leaves_an_all_factor_model_to_the_optimizer():
    # nothing trainable is left for DDP (it would refuse to wrap): the model comes back itself
    model = torch.nn.Sequential(tb.LowRankLinear(8, 4, rank=2, bias=False))
    assert tb.wrap_ddp(model) is model
    assert set(model._ddp_params_and_buffers_to_ignore) == {"0.U", "0.S", "0.V"}
    base = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    adapted = tb.get_dlra_model(base, tb.DLRAConfig(target_modules=["0", "2"], r=2, rtol=0.1))
    assert tb.wrap_ddp(adapted) is adapted
