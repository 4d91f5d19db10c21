"""Tucker-format convolution :class:`TuckerConv2d` (the TDLRT layer) and the small-core HOSVD.

The kernel ``W ∈ ℝ^{out × in × kh × kw}`` is ``C ×₀ U₀ ×₁ U₁ ×₂ U₂ ×₃ U₃`` with orthonormal mode
bases ``U_i`` (``n_i × r_i``) and core ``C`` (``r₀ × r₁ × r₂ × r₃``); modes are numbered as the
kernel's axes (0 = output channels, 1 = input channels, 2, 3 = kernel rows, columns).  The
forward pass forms the (small) kernel and runs one dense convolution: the layer saves
parameters and optimizer state, not convolution FLOPs.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from dlra import LowRankMatrix, RankControl, truncation_rank

from ._base import FactoredModule
from ._functional import GRAD_MODES, multi_mode_product, tucker_kernel, unfold

__all__ = ["TuckerConv2d", "admissible_ranks", "hosvd", "truncate_core"]


def admissible_ranks(ranks: list[int]) -> list[int]:
    """Clamp multilinear ranks so that ``r_i ≤ ∏_{j≠i} r_j`` (otherwise mode ``i`` of the core
    cannot have rank ``r_i``)."""
    ranks = list(ranks)
    changed = True
    while changed:
        changed = False
        for i, r in enumerate(ranks):
            bound = math.prod(ranks[:i] + ranks[i + 1 :])
            if r > bound:
                ranks[i] = bound
                changed = True
    return ranks


def _mode_svd(core: torch.Tensor, mode: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left singular vectors and singular values of ``Mat_i(core)`` (via QR when it is wide)."""
    mat = unfold(core, mode)
    if mat.shape[1] > mat.shape[0]:
        _, r = torch.linalg.qr(mat.mT, mode="reduced")
        mat = r.mT
    p, sigma, _ = torch.linalg.svd(mat, full_matrices=False)
    return p, sigma


def truncate_core(
    core: torch.Tensor, controls: list[RankControl]
) -> tuple[torch.Tensor, list[torch.Tensor], list[int]]:
    """HOSVD truncation of a (small) core: ``core ≈ C₁ ×_i P_i`` with orthonormal ``P_i``.

    Mode ``i`` keeps the rank ``dlra.truncation_rank`` chooses for the singular values of
    ``Mat_i(core)`` under ``controls[i]``, clamped to admissible ranks.  Returns ``(C₁, [P_i], ranks)``; the
    discarded part is at most ``(Σ_i tail_i²)^{1/2}`` in Frobenius norm (HOSVD quasi-optimality).
    Cost: one QR and one SVD of a ``r̂_i × r̂_i`` matrix per mode.
    """
    svds = [_mode_svd(core, i) for i in range(core.dim())]
    ranks = [truncation_rank(sigma, c) for (_, sigma), c in zip(svds, controls, strict=True)]
    ranks = admissible_ranks(ranks)
    ps = [p[:, :r] for (p, _), r in zip(svds, ranks, strict=True)]
    return multi_mode_product(core, ps, transpose=True), ps, ranks


def hosvd(
    x: torch.Tensor,
    ranks: list[int | None],
    tol: float | None = None,
    rtol: float | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Truncated HOSVD ``x ≈ C ×_i U_i``: mode bases from :meth:`dlra.LowRankMatrix.from_dense`
    of each unfolding (rank ``ranks[i]``, or tolerance ``tol/√d``, ``rtol/√d`` per mode so the
    total discarded part is ≤ ``tol + rtol·‖x‖``), clamped to admissible ranks."""
    d = x.dim()
    scale = 1 / math.sqrt(d)
    bases = []
    for i in range(d):
        mat = unfold(x.detach(), i)
        r = ranks[i]
        if r is not None:
            r = min(r, min(mat.shape))
        y = LowRankMatrix.from_dense(
            mat,
            rank=r,
            tol=None if tol is None or r is not None else tol * scale,
            rtol=None if rtol is None or r is not None else rtol * scale,
        )
        bases.append(y.U)
    ranks_ok = admissible_ranks([u.shape[1] for u in bases])
    bases = [u[:, :r] for u, r in zip(bases, ranks_ok, strict=True)]
    return multi_mode_product(x.detach(), bases, transpose=True), bases


class TuckerConv2d(FactoredModule):
    """2-D convolution with a Tucker kernel ``C ×₀ U₀ ×₁ U₁ ×₂ U₂ ×₃ U₃`` (per-mode ranks).

    ``rank``: one integer for every mode (clipped to each mode's size) or four integers; or
    ``tol``/``rtol`` for the truncated HOSVD of the default initialization.  ``grad_mode="kls"``
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
        if rank is None:
            ranks: list[int | None] = [None] * 4
        elif isinstance(rank, int) and not isinstance(rank, bool):
            ranks = [rank] * 4
        else:
            ranks = list(rank)
            if len(ranks) != 4:
                raise ValueError(f"rank must be an int or 4 ints, got {rank!r}")
        for r in ranks:
            if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 1):
                raise ValueError(f"ranks must be positive integers, got {rank!r}")
        self.in_channels, self.out_channels = dense.in_channels, dense.out_channels
        self.kernel_size = _pair(dense.kernel_size)
        self.stride, self.padding = _pair(dense.stride), _pair(dense.padding)
        self.dilation = _pair(dense.dilation)
        self.grad_mode = grad_mode
        core, bases = hosvd(dense.weight.detach(), ranks, tol, rtol)
        tensors = {"core": core.contiguous()}
        tensors.update({f"U{i}": u.contiguous() for i, u in enumerate(bases)})
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
        """Truncated HOSVD of ``module.weight`` (see :func:`hosvd`); the bias is copied."""
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
        """The dense kernel ``C ×_i U_i`` (shape ``(out, in, kh, kw)``)."""
        return multi_mode_product(self.core, self.bases())

    def to_dense(self) -> nn.Conv2d:
        w = self.kernel().detach()
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
        factors = [self._current(f"U{i}") for i in range(4)]
        w = tucker_kernel(self._current("core"), factors, grad_mode=self.grad_mode)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, ranks={self.ranks}, "
            f"grad_mode={self.grad_mode!r}"
        )
