"""Low-rank layers ``W = U S Vᵀ``: :class:`LowRankLinear` and :class:`LowRankConv2d`.

Conventions (shared by the optimizers and the adapters):

* ``U`` (n × r) and ``V`` (m × r) have orthonormal columns, ``S`` (r × r) is a general square
  matrix (diagonal right after a truncation); ``n`` = output features / channels, ``m`` = input
  features, or ``in_channels·kh·kw`` for a convolution (the kernel viewed as an
  ``out × (in·kh·kw)`` matrix, C order, as ``nn.Conv2d.weight.reshape(out, -1)``).
* Parameters are allocated for the current rank ``r`` only; the optimizers replace them when the
  rank changes (:meth:`FactoredModule.set_factors`).
* ``grad_mode="kls"`` (default): the backward pass stores the K-, L- and S-step gradients
  ``U.grad = G V``, ``V.grad = Gᵀ U``, ``S.grad = Uᵀ G V`` (``G = ∂L/∂W``) — what
  :mod:`torch_bridge.optim` needs, with no ``S⁻¹``.  ``grad_mode="factors"``: true partial
  derivatives, for training the factors with an ordinary optimizer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.modules.utils import _pair

from dlra import LowRankMatrix
from dlra._checks import is_integer

from ._base import FactoredModule
from ._functional import GRAD_MODES, factored_conv2d, factored_linear

__all__ = ["LowRankConv2d", "LowRankLinear", "MatrixFactoredModule"]


def _check_rank_args(rank: Any, tol: Any, rtol: Any) -> None:
    if rank is None and tol is None and rtol is None:
        raise ValueError("give the initial rank (rank=...) or a truncation tolerance (tol/rtol)")
    if rank is not None and (tol is not None or rtol is not None):
        raise ValueError("give either rank or tol/rtol, not both")
    if rank is not None and (not is_integer(rank) or rank < 1):
        raise ValueError(f"rank must be a positive integer, got {rank!r}")


def _svd_factors(
    weight: torch.Tensor, rank: int | None, tol: float | None, rtol: float | None
) -> dict[str, torch.Tensor]:
    """Truncated SVD of a dense weight matrix (through :meth:`dlra.LowRankMatrix.from_dense`)."""
    n, m = weight.shape
    if rank is not None and rank > min(n, m):
        raise ValueError(f"rank {rank} exceeds min(n, m) = {min(n, m)} of the {n} × {m} weight")
    y = LowRankMatrix.from_dense(weight.detach(), rank=rank, tol=tol, rtol=rtol)
    return {"U": y.U.contiguous(), "S": y.S.contiguous(), "V": y.V.contiguous()}


class MatrixFactoredModule(FactoredModule):
    """Base of modules holding ``U``, ``S``, ``V`` (see the module docstring)."""

    factor_names = ("U", "S", "V")
    kind = "matrix"
    U: nn.Parameter
    S: nn.Parameter
    V: nn.Parameter

    @property
    def rank(self) -> int:
        """The current rank ``r``."""
        return int(self.S.shape[0])

    @property
    def matrix_shape(self) -> tuple[int, int]:
        """``(n, m)``: the shape of the weight viewed as a matrix."""
        return (int(self.U.shape[0]), int(self.V.shape[0]))

    def weight_matrix(self) -> torch.Tensor:
        """The dense ``n × m`` matrix ``U S Vᵀ`` (for checks and :meth:`to_dense`)."""
        return (self.U @ self.S) @ self.V.mT

    @classmethod
    def _from_module(
        cls, module: nn.Module, expected: type, rank: Any, tol: Any, rtol: Any, grad_mode: str
    ) -> Any:
        """A layer of this class factored from ``module`` (an instance of ``expected``)."""
        if not isinstance(module, expected):
            raise TypeError(
                f"module must be an nn.{expected.__name__}, got {type(module).__name__}"
            )
        _check_rank_args(rank, tol, rtol)
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self._setup(module, rank, tol, rtol, grad_mode)
        return self

    def _check_grad_mode(self, grad_mode: str) -> str:
        if grad_mode not in GRAD_MODES:
            raise ValueError(f"grad_mode must be 'kls' or 'factors', got {grad_mode!r}")
        return grad_mode

    def extra_repr(self) -> str:
        n, m = self.matrix_shape
        return f"{m} → {n}, rank={self.rank}, grad_mode={self.grad_mode!r}"


class LowRankLinear(MatrixFactoredModule):
    """``y = x Wᵀ + b`` with ``W = U S Vᵀ`` of rank ``r``; drop-in for ``nn.Linear``.

    From scratch: ``LowRankLinear(in_features, out_features, rank=r)`` (or ``tol=``/``rtol=``):
    the truncated SVD of ``nn.Linear``'s default initialization.  From a trained layer:
    :meth:`from_dense`.  Back: :meth:`to_dense`.  Cost per sample: ``r·(m + n + r)`` multiply-adds
    instead of ``m·n``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int | None = None,
        *,
        tol: float | None = None,
        rtol: float | None = None,
        bias: bool = True,
        grad_mode: str = "kls",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        _check_rank_args(rank, tol, rtol)
        dense = nn.Linear(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self._setup(dense, rank, tol, rtol, grad_mode)

    def _setup(self, dense: nn.Linear, rank: Any, tol: Any, rtol: Any, grad_mode: str) -> None:
        self.in_features = dense.in_features
        self.out_features = dense.out_features
        self.grad_mode = self._check_grad_mode(grad_mode)
        self._init_factors(_svd_factors(dense.weight, rank, tol, rtol))
        self.bias = None if dense.bias is None else nn.Parameter(dense.bias.detach().clone())

    @classmethod
    def from_dense(
        cls,
        module: nn.Linear,
        rank: int | None = None,
        *,
        tol: float | None = None,
        rtol: float | None = None,
        grad_mode: str = "kls",
    ) -> LowRankLinear:
        """Truncated SVD of ``module.weight`` (rank, or the smallest rank whose discarded
        Frobenius tail is ≤ ``tol + rtol·‖W‖_F``); the bias is copied."""
        return cls._from_module(module, nn.Linear, rank, tol, rtol, grad_mode)

    def to_dense(self) -> nn.Linear:
        """An ``nn.Linear`` with weight ``U S Vᵀ`` and the same bias."""
        w = self.weight_matrix().detach()
        out = nn.Linear(
            self.in_features,
            self.out_features,
            bias=self.bias is not None,
            device=w.device,
            dtype=w.dtype,
        )
        with torch.no_grad():
            out.weight.copy_(w)
            if self.bias is not None:
                out.bias.copy_(self.bias)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return factored_linear(
            x,
            self._current("U"),
            self._current("S"),
            self._current("V"),
            self.bias,
            grad_mode=self.grad_mode,
        )


class LowRankConv2d(MatrixFactoredModule):
    """2-D convolution whose kernel, viewed as an ``out × (in·kh·kw)`` matrix, is ``U S Vᵀ``.

    Computed as ``r`` full filters (the columns of ``V``) followed by a ``1×1`` map with ``U S``:
    ``r·(in·kh·kw + out)`` multiply-adds per output pixel instead of ``out·in·kh·kw``.  Zero
    padding and ``groups=1`` only.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        *,
        rank: int | None = None,
        tol: float | None = None,
        rtol: float | None = None,
        bias: bool = True,
        grad_mode: str = "kls",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        _check_rank_args(rank, tol, rtol)
        dense = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            bias=bias,
            device=device,
            dtype=dtype,
        )
        self._setup(dense, rank, tol, rtol, grad_mode)

    def _setup(self, dense: nn.Conv2d, rank: Any, tol: Any, rtol: Any, grad_mode: str) -> None:
        if dense.groups != 1:
            raise ValueError(f"only groups=1 is supported, got groups={dense.groups}")
        if dense.padding_mode != "zeros" or isinstance(dense.padding, str):
            raise ValueError(
                "only numeric zero padding is supported, got "
                f"padding={dense.padding!r}, padding_mode={dense.padding_mode!r}"
            )
        self.in_channels = dense.in_channels
        self.out_channels = dense.out_channels
        self.kernel_size = _pair(dense.kernel_size)
        self.stride = _pair(dense.stride)
        self.padding = _pair(dense.padding)
        self.dilation = _pair(dense.dilation)
        self.grad_mode = self._check_grad_mode(grad_mode)
        weight = dense.weight.detach().reshape(dense.out_channels, -1)
        self._init_factors(_svd_factors(weight, rank, tol, rtol))
        self.bias = None if dense.bias is None else nn.Parameter(dense.bias.detach().clone())

    @classmethod
    def from_dense(
        cls,
        module: nn.Conv2d,
        rank: int | None = None,
        *,
        tol: float | None = None,
        rtol: float | None = None,
        grad_mode: str = "kls",
    ) -> LowRankConv2d:
        """Truncated SVD of the kernel matrix ``module.weight.reshape(out, -1)``."""
        return cls._from_module(module, nn.Conv2d, rank, tol, rtol, grad_mode)

    def to_dense(self) -> nn.Conv2d:
        """An ``nn.Conv2d`` with kernel ``(U S Vᵀ).reshape(out, in, kh, kw)`` and the same bias."""
        w = self.weight_matrix().detach()
        out = nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            bias=self.bias is not None,
            device=w.device,
            dtype=w.dtype,
        )
        with torch.no_grad():
            out.weight.copy_(w.reshape(out.weight.shape))
            if self.bias is not None:
                out.bias.copy_(self.bias)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return factored_conv2d(
            x,
            self._current("U"),
            self._current("S"),
            self._current("V"),
            self.bias,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            grad_mode=self.grad_mode,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, rank={self.rank}, "
            f"grad_mode={self.grad_mode!r}"
        )
