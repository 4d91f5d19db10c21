"""Baselines for the comparisons: a fixed-rank factorization ``W = U Vᵀ`` trained by any
ordinary optimizer (the "plain SGD on the factors" that DLRT is compared with)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dlra import LowRankMatrix

__all__ = ["FactorizedLinear"]


class FactorizedLinear(nn.Module):
    """``y = x V Uᵀ + b`` with free factors ``U`` (out × r), ``V`` (in × r).

    Initialized like :class:`torch_bridge.LowRankLinear` of the same rank (truncated SVD of
    ``nn.Linear``'s default initialization, ``√σ`` given to each factor), so both start from the
    same weight.  Trained as ordinary parameters; nothing keeps them orthonormal.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int,
        *,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        dense = nn.Linear(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.in_features, self.out_features = in_features, out_features
        y = LowRankMatrix.from_dense(dense.weight.detach(), rank=rank)
        root = torch.sqrt(torch.diagonal(y.S))
        self.U = nn.Parameter((y.U * root).contiguous())
        self.V = nn.Parameter((y.V * root).contiguous())
        self.bias = None if dense.bias is None else nn.Parameter(dense.bias.detach().clone())

    @property
    def rank(self) -> int:
        return int(self.U.shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x @ self.V) @ self.U.mT
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"{self.in_features} → {self.out_features}, rank={self.rank}"
