"""DistributedDataParallel with 2 CPU processes (gloo): identical factors and ranks on both
processes after every step, and the same result as one process on the full batch."""

from __future__ import annotations

import gc
import socket

import pytest

torch = pytest.importorskip("torch")
mp = pytest.importorskip("torch.multiprocessing")
nn = torch.nn
dist = torch.distributed

import torch_bridge as tb  # noqa: E402

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed/gloo"
)

F64 = torch.float64
STEPS = 6
OPTIMIZERS = {
    "parallel": lambda p: tb.ParallelBUG(p, 1.0, rtol=1e-4),
    "augmented_adam": lambda p: tb.AugmentedBUG(p, 0.05, rtol=1e-2, substep="adam"),
}
# Agreement with one full-batch process: the gradient sums differ in order only (round-off
# ~1e-16), which explicit Euler passes on as is; Adam divides gradient round-off by
# √v + eps ≥ eps = 1e-8, so over STEPS steps of lr 0.05 differences up to ~STEPS·lr·1e-16/eps.
FULL_BATCH_TOL = {"parallel": 1e-12, "augmented_adam": STEPS * 0.05 * 1e-16 / 1e-8 * 10}


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        tb.LowRankLinear(8, 12, 1, dtype=F64),
        nn.Tanh(),
        nn.Linear(12, 6, dtype=F64),
        nn.Tanh(),
        tb.LowRankLinear(6, 5, 2, dtype=F64),
    )


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 8, generator=g, dtype=F64)
    w = torch.randn(5, 8, generator=g, dtype=F64)
    return x, torch.sin(x @ w.mT)


def _train(name: str, model: nn.Module, x, y, on_step=None) -> None:
    params = model.parameters()
    opt = OPTIMIZERS[name](params)

    def closure():
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    for _ in range(STEPS):
        if isinstance(opt, tb.AugmentedBUG):
            opt.step(closure)
        else:
            closure()
            opt.step()
        if on_step is not None:
            on_step()


def _flat_state(model: nn.Module) -> tuple[list[int], torch.Tensor]:
    """Ranks and every parameter, flattened (factors as stored)."""
    ranks = [m.rank for m in tb.factored_modules(model).values()]
    return ranks, torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _weights(model: nn.Module) -> torch.Tensor:
    """The network's weights ``U S Vᵀ`` and other parameters: invariant to the sign and rotation
    freedom of the factors (singular vectors are defined up to sign)."""
    parts = []
    for module in model.modules():
        if isinstance(module, tb.LowRankLinear):
            parts += [module.weight_matrix().detach(), module.bias.detach()]
        elif isinstance(module, nn.Linear):
            parts += [module.weight.detach(), module.bias.detach()]
    return torch.cat([p.reshape(-1) for p in parts])


def _worker(rank: int, world: int, port: int, out: dict) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    torch.set_num_threads(1)
    try:
        x, y = _data()
        half = len(x) // world
        xs, ys = x[rank * half : (rank + 1) * half], y[rank * half : (rank + 1) * half]
        for name in OPTIMIZERS:
            model = _model()
            ddp = tb.wrap_ddp(model)
            mismatches = []

            def compare(model=model, mismatches=mismatches):
                ranks, flat = _flat_state(model)
                gathered_ranks = [None] * world
                dist.all_gather_object(gathered_ranks, ranks)
                if any(r != ranks for r in gathered_ranks):
                    mismatches.append(("ranks", gathered_ranks))
                    return
                gathered = [torch.empty_like(flat) for _ in range(world)]
                dist.all_gather(gathered, flat)
                if any(not torch.equal(g, flat) for g in gathered):
                    mismatches.append("values")

            _train(name, ddp, xs, ys, on_step=compare)
            if rank == 0:
                out[name] = (mismatches, _flat_state(model)[0], _weights(model))
            del ddp, model, compare
        dist.barrier()  # every process is done before any tears gloo down
    finally:
        # gloo work objects freed during interpreter shutdown abort the process now and then
        # (SIGABRT at exit): free them while the interpreter is fully alive, as in
        # examples/torch_bridge/ddp.py
        gc.collect()
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_match_each_other_and_one_full_batch_process():
    world = 2
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_worker, args=(world, _free_port(), out), nprocs=world, join=True)
        results = dict(out)
    x, y = _data()
    for name in OPTIMIZERS:
        mismatches, ranks, weights = results[name]
        assert mismatches == []  # identical ranks and bit-identical parameters after every step
        model = _model()
        _train(name, model, x, y)
        assert ranks == _flat_state(model)[0]
        assert ranks != [1, 2]  # the ranks changed during the run (they start at 1 and 2)
        # the 2-process gradient is the mean of two half-batch means: equal up to round-off
        assert torch.allclose(weights, _weights(model), rtol=0, atol=FULL_BATCH_TOL[name])
