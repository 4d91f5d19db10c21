"""Tucker-format convolution :class:`TuckerConv2d` (the TDLRT layer) and the small-core HOSVD.

The kernel ``W ∈ ℝ^{out × in × kh × kw}`` is ``C ×₀ U₀ ×₁ U₁ ×₂ U₂ ×₃ U₃`` with orthonormal mode
bases ``U_i`` (``n_i × r_i``) and core ``C`` (``r₀ × r₁ × r₂ × r₃``); modes are numbered as the
kernel's axes (0 = output channels, 1 = input channels, 2, 3 = kernel rows, columns).  The
forward pass forms the (small) kernel and runs one dense convolution: the layer saves
parameters and optimizer state, not convolution FLOPs.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from dlra._checks import is_integer
from dlra.tucker import TuckerRankControl, TuckerTensor, multi_mode_product
from dlra.tucker.truncation import sthosvd

from ._base import FactoredModule
from ._functional import GRAD_MODES, tucker_kernel

__all__ = ["TuckerConv2d", "truncate_core", "tucker_control"]


def tucker_control(
    *,
    ranks: tuple[int, ...] | None = None,
    tol: float | None = None,
    rtol: float | None = None,
    min_rank: int = 1,
    max_rank: int | None = None,
) -> TuckerRankControl:
    """The core's per-mode rank rule for a 4-mode kernel: fixed ``ranks``, or the smallest ranks
    whose total discarded Frobenius norm is ≤ ``tol + rtol·‖Ĉ‖`` (sequentially truncated HOSVD,
    :func:`dlra.tucker.truncation.sthosvd`)."""
    if ranks is not None:
        return TuckerRankControl.build(4, rank=list(ranks))
    return TuckerRankControl.build(4, tol=tol, rtol=rtol, min_rank=min_rank, max_rank=max_rank)


def truncate_core(
    core: torch.Tensor, control: TuckerRankControl
) -> tuple[torch.Tensor, list[torch.Tensor], list[int]]:
    """ST-HOSVD truncation of a small core: ``core ≈ C₁ ×_i P_i`` with orthonormal ``P_i``.

    Returns ``(C₁, [P_i], ranks)`` (admissible ranks).  Cost: one SVD of an unfolding per mode.
    """
    c1, ps, _ = sthosvd(core, [None] * core.dim(), control)
    return c1, ps, [int(n) for n in c1.shape]


def _four_ranks(rank: Any) -> list[int]:
    """``rank`` (one positive integer, or four: output channels, input channels, kernel height,
    kernel width) as four Python ints."""
    if is_integer(rank):
        ranks = [rank] * 4
    elif isinstance(rank, (tuple, list)):
        ranks = list(rank)
    else:
        raise TypeError(f"rank must be a positive integer or a sequence of 4 of them, got {rank!r}")
    if len(ranks) != 4:
        raise ValueError(f"rank must be an int or 4 ints, got {rank!r}")
    if not all(is_integer(r) and r >= 1 for r in ranks):
        raise ValueError(f"ranks must be positive integers, got {rank!r}")
    return [int(r) for r in ranks]


class TuckerConv2d(FactoredModule):
    """2-D convolution with a Tucker kernel ``C ×₀ U₀ ×₁ U₁ ×₂ U₂ ×₃ U₃`` (per-mode ranks).

    ``rank``: one integer for every mode (clipped to each mode's size) or four integers; or
    ``tol``/``rtol`` for the truncated ST-HOSVD (:meth:`dlra.TuckerTensor.from_dense`) of
    ``nn.Conv2d``'s default initialization.  ``grad_mode="kls"``
    stores the mode K-step gradients ``U_i.grad = Mat_i(G ×_{j≠i} U_jᵀ) Q_i`` (``Q_i`` from the
    QR of ``Mat_i(C)ᵀ``) and ``core.grad = G ×_j U_jᵀ``, ``G`` the kernel gradient.
    """

    factor_names = ("core", "U0", "U1", "U2", "U3")
    kind = "tucker"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        *,
        rank: int | tuple[int, int, int, int] | None = None,
        tol: float | None = None,
        rtol: float | None = None,
        bias: bool = True,
        grad_mode: str = "kls",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
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
        if rank is None and tol is None and rtol is None:
            raise ValueError("give the initial ranks (rank=...) or a tolerance (tol/rtol)")
        if dense.groups != 1 or dense.padding_mode != "zeros" or isinstance(dense.padding, str):
            raise ValueError("only groups=1 and numeric zero padding are supported")
        if grad_mode not in GRAD_MODES:
            raise ValueError(f"grad_mode must be 'kls' or 'factors', got {grad_mode!r}")
        if rank is not None and (tol is not None or rtol is not None):
            raise ValueError("give either rank or tol/rtol, not both")
        ranks: list[int] = []
        if rank is not None:
            ranks = _four_ranks(rank)
        self.in_channels, self.out_channels = dense.in_channels, dense.out_channels
        self.kernel_size = _pair(dense.kernel_size)
        self.stride, self.padding = _pair(dense.stride), _pair(dense.padding)
        self.dilation = _pair(dense.dilation)
        self.grad_mode = grad_mode
        weight = dense.weight.detach()
        if rank is not None:
            ranks = [min(r, n) for r, n in zip(ranks, weight.shape, strict=True)]
            y = TuckerTensor.from_dense(weight, ranks)
        else:
            y = TuckerTensor.from_dense(weight, tol=tol, rtol=rtol)
        tensors = {"core": y.core.contiguous()}
        tensors.update({f"U{i}": u.contiguous() for i, u in enumerate(y.factors)})
        self._init_factors(tensors)
        self.bias = None if dense.bias is None else nn.Parameter(dense.bias.detach().clone())

    @classmethod
    def from_dense(
        cls,
        module: nn.Conv2d,
        rank: int | tuple[int, int, int, int] | None = None,
        *,
        tol: float | None = None,
        rtol: float | None = None,
        grad_mode: str = "kls",
    ) -> TuckerConv2d:
        """Truncated ST-HOSVD of ``module.weight`` (:meth:`dlra.TuckerTensor.from_dense`: ranks, or
        total discarded Frobenius norm ≤ ``tol + rtol·‖W‖``); the bias is copied."""
        if not isinstance(module, nn.Conv2d):
            raise TypeError(f"module must be an nn.Conv2d, got {type(module).__name__}")
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self._setup(module, rank, tol, rtol, grad_mode)
        return self

    @property
    def ranks(self) -> tuple[int, ...]:
        """The multilinear rank ``(r₀, r₁, r₂, r₃)``."""
        return tuple(int(n) for n in self.core.shape)

    def bases(self) -> list[torch.Tensor]:
        return [getattr(self, f"U{i}") for i in range(4)]

    def kernel(self) -> torch.Tensor:
        """The dense kernel ``C ×_i U_i`` (shape ``(out, in, kh, kw)``), differentiable with the
        layer's gradient convention (used by :meth:`forward`)."""
        factors = [self._current(f"U{i}") for i in range(4)]
        return tucker_kernel(self._current("core"), factors, grad_mode=self.grad_mode)

    def to_dense(self) -> nn.Conv2d:
        w = multi_mode_product(self.core, self.bases()).detach()
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
            out.weight.copy_(w)
            if self.bias is not None:
                out.bias.copy_(self.bias)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.kernel(), self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, ranks={self.ranks}, "
            f"grad_mode={self.grad_mode!r}"
        )
