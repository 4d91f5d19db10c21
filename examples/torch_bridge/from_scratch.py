"""Train a network from scratch with low-rank layers: dense vs U Vᵀ by SGD vs DLRT vs parallel BUG.

Teacher–student problem whose hidden layer has rank 4 (``torch_bridge.problems.teacher_student``):
the rank-adaptive optimizers start at rank 8 and find rank 4.

    python examples/torch_bridge/from_scratch.py [--steps 300]
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import torch_bridge as tb
from torch_bridge.problems import teacher_student


def train(problem, first: nn.Module, optimizer_cls, steps: int, **options) -> nn.Module:
    model = problem.student(first)  # first layer → tanh → the teacher's readout (frozen)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = optimizer_cls(params, **options)

    def closure():
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(problem.x_train), problem.y_train)
        loss.backward()
        return loss

    for _ in range(steps):
        if isinstance(opt, tb.AugmentedBUG):
            opt.step(closure)  # DLRT re-evaluates the gradient in the augmented bases
        else:
            closure()
            opt.step()
    return model


def main(argv: list[str] | None = None) -> dict[str, tuple[float, object]]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args(argv)
    problem = teacher_student()
    lr, f64 = 2.0, torch.float64
    runs = {
        "dense, SGD": (lambda: nn.Linear(32, 32, dtype=f64), torch.optim.SGD, {}),
        "U Vᵀ rank 4, SGD": (
            lambda: tb.FactorizedLinear(32, 32, 4, dtype=f64),
            torch.optim.SGD,
            {},
        ),
        "DLRT, rtol 0.05": (
            lambda: tb.LowRankLinear(32, 32, 8, dtype=f64),
            tb.AugmentedBUG,
            {"rtol": 0.05},
        ),
        "parallel BUG, rtol 0.05": (
            lambda: tb.LowRankLinear(32, 32, 8, dtype=f64),
            tb.ParallelBUG,
            {"rtol": 0.05},
        ),
    }
    results = {}
    for name, (make_first, cls, options) in runs.items():
        torch.manual_seed(2)  # every student starts from the same initialization
        first = make_first()
        model = train(problem, first, cls, args.steps, lr=lr, **options)
        rank = getattr(first, "rank", "dense")
        results[name] = (problem.relative_error(model), rank)
        print(f"{name:26s} relative test error {results[name][0]:.3g}   rank {rank}")
    return results


if __name__ == "__main__":
    main()
