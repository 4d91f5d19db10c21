"""Fine-tune a pretrained network with rank-adaptive low-rank adapters (peft-like API).

An MLP is pretrained on scikit-learn's digits, then fine-tuned on the digits shifted by one
pixel with adapters on every linear layer, trained by the parallel BUG (one backward pass per
step); the adapters are saved alone, loaded into a fresh copy and merged into the weights.

    python examples/torch_bridge/finetune.py [--steps 300]
"""

from __future__ import annotations

import argparse
import tempfile

import torch
from torch import nn

import torch_bridge as tb
from torch_bridge.problems import digits


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
    )


def shift(x: torch.Tensor) -> torch.Tensor:
    img = x.reshape(-1, 8, 8)
    out = torch.full_like(img, float(img.min()))
    out[:, 1:, 1:] = img[:, :-1, :-1]
    return out.reshape(-1, 64)


def fit(model: nn.Module, opt: torch.optim.Optimizer, x, y, steps: int) -> None:
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(0, len(y), (64,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()


def accuracy(model: nn.Module, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    x_train, y_train, x_test, y_test = digits()
    base = mlp()
    fit(base, torch.optim.SGD(base.parameters(), 0.1), x_train, y_train, 2 * args.steps)
    xs_train, xs_test = shift(x_train), shift(x_test)
    out = {"pretrained, shifted digits": accuracy(base, xs_test, y_test)}

    pretrained = base.state_dict()
    config = tb.DLRAConfig(target_modules=["0", "2", "4"], r=8, rtol=0.1)
    model = tb.get_dlra_model(base, config)
    model.print_trainable_parameters()
    opt = model.make_optimizer(lr=3e-2, substep="adam")  # a ParallelBUG over the adapters
    fit(model, opt, xs_train, y_train, args.steps)
    out["adapters"] = accuracy(model, xs_test, y_test)
    print("ranks after fine-tuning:", model.ranks())

    with tempfile.TemporaryDirectory() as directory:
        model.save_pretrained(directory)  # adapters and config only
        fresh = mlp()
        fresh.load_state_dict(pretrained)
        loaded = tb.DLRAModel.from_pretrained(fresh, directory)
    merged = loaded.merge_and_unload()  # a plain nn.Sequential again
    out["merged"] = accuracy(merged, xs_test, y_test)
    for name, acc in out.items():
        print(f"{name:28s} test accuracy {acc:.3f}")
    return out


if __name__ == "__main__":
    main()
