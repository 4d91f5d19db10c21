"""Autograd functions of the factored layers: one forward and one backward give every gradient
the integrators need, without ``S⁻¹``.

Gradient convention ``"kls"`` (the default of every layer in this package).  For a weight
``W = U S Vᵀ`` (``U``: n × r, ``S``: r × r, ``V``: m × r) and the loss gradient ``G = ∂L/∂W``
(never formed), the backward pass stores

* ``U.grad = G V``  — the K-step gradient ``∂L/∂K`` at ``K = U S`` (``W = K Vᵀ``),
* ``V.grad = Gᵀ U`` — the L-step gradient ``∂L/∂L`` at ``L = V Sᵀ`` (``W = U Lᵀ``),
* ``S.grad = Uᵀ G V`` — the Galerkin (S-step) gradient, the true ``∂L/∂S``.

These are the right-hand sides of the K-, L- and S-substeps of the gradient flow
``Ẇ = −∇L(W)``.  The true partial derivatives ``∂L/∂U = G V Sᵀ`` and ``∂L/∂V = Gᵀ U S`` would need
``S⁻¹`` to recover ``G V``: ill-conditioned when ``S`` has small singular values, which is the
regime low-rank training lives in.  Convention ``"factors"`` stores the true partial derivatives
instead (for training the factors with an ordinary optimizer).

The backward pass costs the same as autograd's backward through ``x ↦ x V Sᵀ Uᵀ``: with the
projected activations ``a = x V`` (saved in the forward pass) and ``b = δ U`` (``δ = ∂L/∂y``),
``G V = δᵀ a``, ``Gᵀ U = xᵀ b``, ``Uᵀ G V = bᵀ a`` and ``∂L/∂x = b S Vᵀ``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from dlra.tucker.modes import mode_factor, multi_mode_product, unfold

__all__ = [
    "GRAD_MODES",
    "core_row_basis",
    "factored_conv2d",
    "factored_linear",
    "tucker_kernel",
]

GRAD_MODES = ("kls", "factors")


def _autocast_on(device: str) -> bool:
    """True inside ``torch.autocast`` for the device type ``device``."""
    try:
        return bool(torch.is_autocast_enabled(device))
    except TypeError:  # torch < 2.4: no device argument
        cpu = device == "cpu"
        return bool(torch.is_autocast_cpu_enabled() if cpu else torch.is_autocast_enabled())


def _autocast_off(device: str) -> Any:
    """A context that switches autocast off for ``device`` (a no-op when it is not on)."""
    return (
        torch.autocast(device, enabled=False) if _autocast_on(device) else contextlib.nullcontext()
    )


def _under_autocast(*tensors: Any) -> tuple[tuple[Any, ...], Any]:
    """Inside ``torch.autocast``: ``tensors`` cast to its dtype (what autocast does to the inputs
    of a matrix product, differentiably, so gradients reach the factors in their own dtype) and
    a context that switches autocast off for the function's own products; otherwise the tensors
    unchanged and a no-op context."""
    device = next(t for t in tensors if t is not None).device.type
    if not _autocast_on(device):
        return tensors, contextlib.nullcontext()
    try:
        dtype = torch.get_autocast_dtype(device)
    except AttributeError:  # torch < 2.4: the per-device functions
        cpu = device == "cpu"
        dtype = torch.get_autocast_cpu_dtype() if cpu else torch.get_autocast_gpu_dtype()
    cast = tuple(
        t.to(dtype) if t is not None and t.is_floating_point() and t.dtype != dtype else t
        for t in tensors
    )
    return cast, torch.autocast(device, enabled=False)


def _check_grad_mode(grad_mode: str, u: Any, s: Any, v: Any) -> bool:
    if grad_mode not in GRAD_MODES:
        raise ValueError(f"grad_mode must be 'kls' or 'factors', got {grad_mode!r}")
    kls = grad_mode == "kls"
    if kls and s.shape[0] != s.shape[1] and (u.requires_grad or v.requires_grad):
        raise ValueError(
            f"grad_mode='kls' needs a square S for gradients of U and V, got {tuple(s.shape)}"
        )
    return kls


class _FactoredLinear(torch.autograd.Function):
    """``y = x V Sᵀ Uᵀ + b`` with K/L/S gradients (module docstring)."""

    @staticmethod
    def forward(ctx: Any, x: Any, u: Any, s: Any, v: Any, bias: Any, kls: bool) -> Any:
        a = x @ v
        y = (a @ s.mT) @ u.mT
        if bias is not None:
            y = y + bias
        ctx.save_for_backward(x, a, u, s, v)
        ctx.kls = kls
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dy: Any) -> tuple[Any, ...]:
        x, a, u, s, v = ctx.saved_tensors
        need_x, need_u, need_s, need_v, need_b, _ = ctx.needs_input_grad
        b = dy @ u
        dx = du = ds = dv = db = None
        if need_x:
            dx = (b @ s) @ v.mT
        # S may be rectangular (augmented bases of different sizes): b has ru, a has rv columns.
        a2, b2 = a.reshape(-1, s.shape[1]), b.reshape(-1, s.shape[0])
        if need_u:
            gv = dy.reshape(-1, dy.shape[-1]).mT @ a2
            du = gv if ctx.kls else gv @ s.mT
        if need_v:
            gtu = x.reshape(-1, x.shape[-1]).mT @ b2
            dv = gtu if ctx.kls else gtu @ s
        if need_s:
            ds = b2.mT @ a2
        if need_b:
            db = dy.reshape(-1, dy.shape[-1]).sum(0)
        return dx, du, ds, dv, db, None


def factored_linear(
    x: Any, u: Any, s: Any, v: Any, bias: Any = None, *, grad_mode: str = "kls"
) -> Any:
    """``x ↦ x (U S Vᵀ)ᵀ + bias`` for ``x`` of shape ``(…, m)``; gradients by ``grad_mode``.
    Under ``torch.autocast`` it computes in the autocast dtype, like ``nn.Linear``."""
    kls = _check_grad_mode(grad_mode, u, s, v)
    (x, u, s, v, bias), context = _under_autocast(x, u, s, v, bias)
    with context:
        return _FactoredLinear.apply(x, u, s, v, bias, kls)


class _FactoredConv2d(torch.autograd.Function):
    """Convolution with kernel ``W = U S Vᵀ`` (``V``: in·kh·kw × r) as ``r`` filters then a 1×1 map."""

    @staticmethod
    def forward(
        ctx: Any,
        x: Any,
        u: Any,
        s: Any,
        v: Any,
        bias: Any,
        kernel_size: tuple[int, int],
        conv: tuple[Any, Any, Any],
        kls: bool,
    ) -> Any:
        stride, padding, dilation = conv
        filters = v.mT.reshape(v.shape[1], -1, *kernel_size)
        a = F.conv2d(x, filters, None, stride, padding, dilation)
        y = F.conv2d(a, (u @ s)[:, :, None, None], bias)
        ctx.save_for_backward(x, a, u, s, v)
        ctx.kernel_size, ctx.conv, ctx.kls = kernel_size, conv, kls
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dy: Any) -> tuple[Any, ...]:
        x, a, u, s, v = ctx.saved_tensors
        need_x, need_u, need_s, need_v, need_b = ctx.needs_input_grad[:5]
        stride, padding, dilation = ctx.conv
        r = v.shape[1]
        filters = v.mT.reshape(r, -1, *ctx.kernel_size)
        b = F.conv2d(dy, u.mT[:, :, None, None])  # Uᵀ δ at every position
        dx = du = ds = dv = db = None
        if need_x:
            grad_a = F.conv2d(b, s.mT[:, :, None, None])  # Sᵀ Uᵀ δ
            dx = torch.nn.grad.conv2d_input(x.shape, filters, grad_a, stride, padding, dilation)
        if need_u:
            gv = torch.einsum("bohw,brhw->or", dy, a)
            du = gv if ctx.kls else gv @ s.mT
        if need_v:
            shape = (b.shape[1], *filters.shape[1:])
            gtu = torch.nn.grad.conv2d_weight(x, shape, b, stride, padding, dilation)
            gtu = gtu.reshape(b.shape[1], -1).mT
            dv = gtu if ctx.kls else gtu @ s
        if need_s:
            ds = torch.einsum("brhw,bshw->rs", b, a)
        if need_b:
            db = dy.sum((0, 2, 3))
        return dx, du, ds, dv, db, None, None, None


def factored_conv2d(
    x: Any,
    u: Any,
    s: Any,
    v: Any,
    bias: Any,
    kernel_size: tuple[int, int],
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    *,
    grad_mode: str = "kls",
) -> Any:
    """2-D convolution (zero padding, ``groups=1``) with kernel ``U S Vᵀ`` reshaped to
    ``(out, in, kh, kw)``, of a batch ``(N, C, H, W)`` or, like ``nn.Conv2d``, one unbatched
    image ``(C, H, W)``.  Under ``torch.autocast`` it computes in the autocast dtype.  Cost:
    ``r`` full filters plus a ``1×1`` map ``r → out``."""
    conv = (stride, padding, dilation)
    kls = _check_grad_mode(grad_mode, u, s, v)
    unbatched = x.dim() == 3
    if unbatched:
        x = x.unsqueeze(0)  # the backward pass sums over a batch dimension
    (x, u, s, v, bias), context = _under_autocast(x, u, s, v, bias)
    with context:
        y = _FactoredConv2d.apply(x, u, s, v, bias, tuple(kernel_size), conv, kls)
    return y.squeeze(0) if unbatched else y


# --------------------------------------------------------------------------------------------
# Tucker kernels
# --------------------------------------------------------------------------------------------


def core_row_basis(core: Any, mode: int) -> Any:
    """``Q_i`` with orthonormal columns from the thin QR ``Mat_i(C)ᵀ = Q_i R_i`` (through
    :func:`dlra.tucker.mode_factor`, which returns ``S_i = R_iᵀ`` and ``G_i = Ten_i(Q_iᵀ)``).  The
    mode-``i`` K-step variable is ``K_i = U_i S_i`` (``integrators.md`` §3.1)."""
    _, g = mode_factor(core, mode)
    return unfold(g, mode).mT


def _all_but(mats: list[Any], i: int) -> list[Any]:
    return [None if j == i else m for j, m in enumerate(mats)]


class _TuckerKernel(torch.autograd.Function):
    """``W = C ×₁ U₁ ×₂ U₂ ×₃ U₃ ×₄ U₄`` with K_i/C gradients from the kernel gradient ``G``.

    Convention ``"kls"``: ``U_i.grad = Mat_i(G ×_{j≠i} U_jᵀ) Q_i`` (the mode-``i`` K-step gradient,
    ``Q_i`` from :func:`core_row_basis`), ``C.grad = G ×_j U_jᵀ``.  ``"factors"``: the true
    partial derivatives ``U_i.grad = Mat_i(G ×_{j≠i} U_jᵀ) Mat_i(C)ᵀ``.
    """

    @staticmethod
    def forward(ctx: Any, core: Any, kls: bool, *factors: Any) -> Any:
        ctx.save_for_backward(core, *factors)
        ctx.kls = kls
        return multi_mode_product(core, list(factors))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g: Any) -> tuple[Any, ...]:
        core, *factors = ctx.saved_tensors
        need_core = ctx.needs_input_grad[0]
        need_factors = ctx.needs_input_grad[2:]
        grads: list[Any] = [None] * len(factors)
        for i, need in enumerate(need_factors):
            if not need:
                continue
            d_i = unfold(multi_mode_product(g, _all_but(factors, i), adjoint=True), i)
            if ctx.kls:
                grads[i] = d_i @ core_row_basis(core, i)
            else:
                grads[i] = d_i @ unfold(core, i).mT
        dcore = multi_mode_product(g, factors, adjoint=True) if need_core else None
        return (dcore, None, *grads)


def tucker_kernel(core: Any, factors: list[Any], *, grad_mode: str = "kls") -> Any:
    """The full tensor ``C ×_j U_j`` with gradients by ``grad_mode`` (see :class:`_TuckerKernel`)."""
    if grad_mode not in GRAD_MODES:
        raise ValueError(f"grad_mode must be 'kls' or 'factors', got {grad_mode!r}")
    # the kernel is small and its backward needs a QR of the core (no bfloat16 kernels): it is
    # formed in the factors' dtype, and the convolution that uses it is what autocast casts
    with _autocast_off(core.device.type):
        return _TuckerKernel.apply(core, grad_mode == "kls", *factors)
