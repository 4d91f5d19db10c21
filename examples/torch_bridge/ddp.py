"""Data-parallel training with DistributedDataParallel on 2 CPU processes (gloo backend).

Each process trains on its half of every batch; the factor gradients are averaged by the
optimizer, the ranks decided on process 0 and the new factors broadcast, so both processes hold
identical factors and ranks after every step.

    python examples/torch_bridge/ddp.py [--steps 50]
"""

from __future__ import annotations

import argparse
import gc
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import torch_bridge as tb


def worker(rank: int, world: int, port: int, steps: int) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    torch.manual_seed(0)  # same initial model everywhere (prepare_ddp broadcasts it anyway)
    model = nn.Sequential(tb.LowRankLinear(16, 32, 2), nn.Tanh(), nn.Linear(32, 4))
    ddp = tb.wrap_ddp(model)  # DDP that ignores the factors; the optimizer syncs them
    opt = tb.ParallelBUG(ddp.parameters(), lr=0.5, rtol=1e-3)
    g = torch.Generator().manual_seed(1)
    w = torch.randn(4, 16, generator=g)
    for _ in range(steps):
        x = torch.randn(64, 16, generator=g)  # same batch on every process ...
        y = torch.sin(x @ w.mT)
        mine = slice(rank * 32, (rank + 1) * 32)  # ... each takes its half
        opt.zero_grad()
        nn.functional.mse_loss(ddp(x[mine]), y[mine]).backward()
        opt.step()
    ranks = [None] * world
    dist.all_gather_object(ranks, tb.ranks(model))
    if rank == 0:
        print("ranks on each process:", ranks, flush=True)
    # every process reaches this point before any tears gloo down: without the barrier one
    # process may destroy the group while the other still talks to it (an abort at exit)
    dist.barrier()
    # drop what holds gloo work objects (DDP's reducer, the optimizer's pending reductions)
    # while the interpreter is fully alive: freed during interpreter shutdown instead, a gloo
    # thread can still be attached to them and the process aborts (SIGABRT at exit)
    del ddp, opt, model
    gc.collect()
    dist.destroy_process_group()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args(argv)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(worker, args=(2, port, args.steps), nprocs=2, join=True)


if __name__ == "__main__":
    main()
