"""Side-by-side training of several methods with the same data, steps and machine load.

Methods advance in round robin (one step each, in turn), so a busy machine slows them alike and
the time ratios stay meaningful; each step's wall time is recorded and the median after a warm-up
is reported.  Backward passes are counted by the closure that computes them (every
forward/backward of every method goes through it).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

import torch_bridge as tb

__all__ = ["Trainer", "run_round_robin"]


@dataclass
class Trainer:
    """One method: a model, its optimizer and how to take a step."""

    name: str
    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    needs_closure: bool = False
    after_step: Callable[[int], None] | None = None
    extra_loss: Callable[[], torch.Tensor] | None = None
    ranks: Callable[[], Any] = lambda: "—"
    active_parameters: Callable[[], int] | None = None
    extra_state: Callable[[], int] = lambda: 0
    evaluations: int = 0
    times: list[float] = field(default_factory=list)
    note: str = ""

    def step(self, x: torch.Tensor, y: torch.Tensor, k: int) -> float:
        def closure() -> torch.Tensor:
            self.evaluations += 1
            self.optimizer.zero_grad()
            loss = self.loss_fn(self.model(x), y)
            if self.extra_loss is not None:
                loss = loss + self.extra_loss()
            loss.backward()
            return loss

        start = time.perf_counter()
        if self.needs_closure:
            loss = self.optimizer.step(closure)
        else:
            loss = closure()
            self.optimizer.step()
        if self.after_step is not None:
            self.after_step(k)
        self.times.append(time.perf_counter() - start)
        return float(loss.detach())

    def summary(self, steps: int, warmup: int) -> dict[str, Any]:
        counts = tb.count_parameters(self.model)
        active = self.active_parameters() if self.active_parameters else counts["trainable"]
        return {
            "method": self.name,
            "step_time_s": statistics.median(self.times[warmup:]),
            "backward_per_step": self.evaluations / steps,
            "params_allocated": counts["allocated"],
            "params_trainable": counts["trainable"],
            "params_active": active,
            "optimizer_state": tb.optimizer_state_size(self.optimizer) + self.extra_state(),
            "ranks": self.ranks(),
            "note": self.note,
        }


def run_round_robin(
    trainers: list[Trainer],
    batches: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    steps: int,
    *,
    warmup: int = 10,
) -> list[dict[str, Any]]:
    """Train every method ``steps`` steps on the same batches; return their summaries."""
    for k in range(steps):
        x, y = batches(k)
        for t in trainers:
            t.step(x, y, k)
    return [t.summary(steps, min(warmup, steps - 1)) for t in trainers]
