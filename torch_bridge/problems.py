"""Problems with known answers for the tests, examples and benchmark (no downloads).

* :func:`teacher_student` — a two-layer ``tanh`` teacher whose hidden layer has a known rank
  ``r*``; the student learns the hidden layer with the teacher's readout.  The readout is
  square and generic (invertible), so the only minimizer is the teacher's hidden weight: every
  low-rank student has a ground-truth rank and a ground-truth error of zero.
* :func:`digits` — scikit-learn's 8×8 digits (shipped with scikit-learn), standardized,
  split into train/test tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["TeacherStudent", "digits", "teacher_student"]


@dataclass(frozen=True)
class TeacherStudent:
    """Data and teacher of :func:`teacher_student`."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    hidden_weight: torch.Tensor
    readout: torch.Tensor
    rank: int

    def student(self, first: nn.Module) -> nn.Sequential:
        """``readout ∘ tanh ∘ first`` with the teacher's readout, frozen."""
        n_out, n_hidden = self.readout.shape
        last = nn.Linear(n_hidden, n_out, bias=False, dtype=self.readout.dtype)
        with torch.no_grad():
            last.weight.copy_(self.readout)
        last.weight.requires_grad_(False)
        return nn.Sequential(first, nn.Tanh(), last)

    def relative_error(self, model: nn.Module, split: str = "test") -> float:
        """``‖model(x) − y‖² / ‖y − mean(y)‖²`` on the split (0 = perfect)."""
        x, y = (self.x_test, self.y_test) if split == "test" else (self.x_train, self.y_train)
        with torch.no_grad():
            err = (model(x) - y).pow(2).sum() / (y - y.mean(0)).pow(2).sum()
        return float(err)

    def agreement(self, model: nn.Module) -> float:
        """Fraction of test inputs where ``argmax`` of student and teacher outputs agree."""
        with torch.no_grad():
            return float((model(self.x_test).argmax(1) == self.y_test.argmax(1)).double().mean())


def teacher_student(
    *,
    n_in: int = 32,
    n_hidden: int = 32,
    singular_values: tuple[float, ...] = (2.0, 1.0, 0.5, 0.25),
    n_train: int = 1024,
    n_test: int = 1024,
    seed: int = 1,
    dtype: Any = torch.float64,
) -> TeacherStudent:
    """Teacher ``y = R tanh(W* x)``, ``W* = A diag(σ) Bᵀ`` of rank ``len(singular_values)`` with
    random orthonormal ``A``, ``B``; readout ``R`` (``n_hidden × n_hidden``) Gaussian with
    variance ``4/n_hidden``; inputs standard normal.  Drawn in float64 from ``seed``, then cast
    to ``dtype`` (same problem in every precision)."""
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    r = len(singular_values)
    a = torch.linalg.qr(torch.randn(n_hidden, r, generator=g, dtype=f64))[0]
    b = torch.linalg.qr(torch.randn(n_in, r, generator=g, dtype=f64))[0]
    w = a @ torch.diag(torch.tensor(singular_values, dtype=f64)) @ b.mT
    readout = torch.randn(n_hidden, n_hidden, generator=g, dtype=f64) * (2 / n_hidden**0.5)
    x_train = torch.randn(n_train, n_in, generator=g, dtype=f64)
    x_test = torch.randn(n_test, n_in, generator=g, dtype=f64)

    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x @ w.mT) @ readout.mT

    return TeacherStudent(
        *(t.to(dtype) for t in (x_train, f(x_train), x_test, f(x_test), w, readout)), rank=r
    )


def digits(
    *, test_fraction: float = 0.25, seed: int = 0, dtype: Any = torch.float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x_train, y_train, x_test, y_test)`` of scikit-learn's digits (1797 images, 64 pixels,
    10 classes), pixels standardized with the training statistics."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float64)
    y = torch.tensor(data.target, dtype=torch.int64)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = round(test_fraction * len(y))
    test, train = perm[:n_test], perm[n_test:]
    mean, std = x[train].mean(0), x[train].std(0).clamp_min(1e-6)
    x = (x - mean) / std
    return x[train].to(dtype), y[train], x[test].to(dtype), y[test]
