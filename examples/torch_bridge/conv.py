"""Low-rank and Tucker convolutions trained from scratch on the 8×8 digits.

A small CNN whose convolutions are :class:`torch_bridge.LowRankConv2d` (kernel as an
out × in·kh·kw matrix) or :class:`torch_bridge.TuckerConv2d` (per-mode ranks), trained by
:class:`torch_bridge.ParallelBUG` with a relative truncation tolerance.

    python examples/torch_bridge/conv.py [--steps 400]
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import torch_bridge as tb
from torch_bridge.problems import digits


def cnn(kind: str) -> nn.Module:
    if kind == "dense":
        conv1, conv2 = nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)
    elif kind == "matrix":
        conv1 = tb.LowRankConv2d(1, 16, 3, padding=1, rank=8)
        conv2 = tb.LowRankConv2d(16, 32, 3, padding=1, rank=16)
    else:
        conv1 = tb.TuckerConv2d(1, 16, 3, padding=1, rank=(8, 1, 3, 3))
        conv2 = tb.TuckerConv2d(16, 32, 3, padding=1, rank=(16, 8, 3, 3))
    return nn.Sequential(
        conv1,
        nn.ReLU(),
        nn.MaxPool2d(2),
        conv2,
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 2 * 2, 10),
    )


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args(argv)
    x_train, y_train, x_test, y_test = digits()
    x_train, x_test = x_train.reshape(-1, 1, 8, 8), x_test.reshape(-1, 1, 8, 8)
    results = {}
    for kind in ("dense", "matrix", "tucker"):
        torch.manual_seed(0)
        model = cnn(kind)
        if kind == "dense":
            opt = torch.optim.SGD(model.parameters(), 0.05)
        else:
            opt = tb.ParallelBUG(model.parameters(), 0.05, rtol=0.2)
        g = torch.Generator().manual_seed(0)
        for _ in range(args.steps):
            idx = torch.randint(0, len(y_train), (64,), generator=g)
            opt.zero_grad()
            nn.functional.cross_entropy(model(x_train[idx]), y_train[idx]).backward()
            opt.step()
        with torch.no_grad():
            acc = float((model(x_test).argmax(1) == y_test).float().mean())
        results[kind] = acc
        params = tb.count_parameters(model)["allocated"]
        print(f"{kind:7s} test accuracy {acc:.3f}  parameters {params:6d}  ranks {tb.ranks(model)}")
    return results


if __name__ == "__main__":
    main()
