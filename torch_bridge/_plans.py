"""One integrator step of one factored module: the arithmetic behind :mod:`torch_bridge.optim`.

A *plan* is created from the gradients at the current point (``grad_mode="kls"``: the K-, L- and
S-step gradients, see :mod:`torch_bridge._functional`), augments the bases, builds the augmented
core (parallel BUG) or the point for the Galerkin re-evaluation (augmented BUG), truncates, and
writes the new factors and the rotated optimizer state back.  Augmentation and truncation are
those of the core package (:func:`dlra.linalg.augment_basis`, :func:`dlra.linalg.truncate`,
:func:`dlra.linalg.truncation_rank`); the Tucker core is truncated mode by mode with the same rank
rule (:func:`torch_bridge.tucker.truncate_core`).

Every substep is one step of size ``h = lr`` of the gradient flow ``Ẇ = −∇L(W)``: explicit Euler
(``substep="euler"``) or an Adam-preconditioned step (``substep="adam"``, matrix layers), whose
moments are expressed in the current bases and rotated into the new ones.
"""

from __future__ import annotations

from typing import Any

import torch

from dlra import RankControl, augment_basis, orthonormalize, truncate
from dlra.tucker.modes import fold, pad
from dlra.tucker.truncation import TuckerRankControl

from ._base import FactoredModule
from ._functional import core_row_basis
from .tucker import truncate_core

__all__ = ["MatrixPlan", "TuckerPlan", "clamp_condition"]


def _adam_direction(
    state: dict[str, Any], grad: torch.Tensor, step: int, group: dict, *, columnwise: bool = False
) -> Any:
    """Update the moments in ``state`` with ``grad`` and return ``m̂ / (√v̂ + eps)``.

    ``columnwise``: one second moment per column (the mean square of the column), for the K/L
    gradients ``n × r``: the preconditioner is then a right multiplication by an ``r × r``
    diagonal matrix, which commutes with projections onto subspaces of ``ℝⁿ`` — the part of the
    direction outside the current basis (what augmentation adds) keeps its share of the
    gradient.  Elementwise normalization would inflate round-off-sized components to ``O(1)``.
    """
    beta1, beta2 = group["betas"]
    if "exp_avg" not in state:
        state["exp_avg"] = torch.zeros_like(grad)
        state["exp_avg_sq"] = torch.zeros_like(grad[:1] if columnwise else grad)
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m.mul_(beta1).add_(grad, alpha=1 - beta1)
    sq = (grad * grad).mean(0, keepdim=True) if columnwise else grad * grad
    v.mul_(beta2).add_(sq, alpha=1 - beta2)
    return _adam_ratio(m, v, step, group)


def _adam_ratio(m: Any, v: Any, step: int, group: dict) -> Any:
    beta1, beta2 = group["betas"]
    m_hat = m / (1 - beta1**step)
    v_hat = v / (1 - beta2**step)
    return m_hat / (v_hat.sqrt() + group["eps"])


def clamp_condition(sigma: torch.Tensor, kappa: float) -> torch.Tensor:
    """Clamp singular values to ``[μ − e, μ + e]``, ``μ`` their mean, ``e = μ(κ−1)/(κ+1)``, so that
    ``σ_max/σ_min ≤ κ`` (Savostianova et al., NeurIPS 2023).  Values that already satisfy the
    bound are returned unchanged (the clamp is then not needed, and would still move them)."""
    if sigma.numel() == 0 or sigma.max() <= kappa * sigma.min():
        return sigma
    mu = sigma.mean()
    e = mu * (kappa - 1) / (kappa + 1)
    return torch.minimum(torch.maximum(sigma, mu - e), mu + e)


def _reorthonormalize(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(u, None)`` when ``u`` is orthonormal to working precision, else ``(Q, R)`` of its QR.

    Orthonormality of the bases degrades by round-off once per step (``U₁ = Û P``); this check
    (one ``r × r`` Gram matrix) keeps it at ``O(eps)`` over arbitrarily many steps.
    """
    r = u.shape[1]
    gram = u.mT @ u
    defect = float((gram - torch.eye(r, dtype=u.dtype, device=u.device)).abs().max())
    if defect <= 100 * torch.finfo(u.dtype).eps * max(1, r):
        return u, None
    q, rr = orthonormalize(u)
    return q, rr


def _require_finite(module: FactoredModule, group: dict, *grads: torch.Tensor) -> None:
    if not all(bool(torch.isfinite(g).all()) for g in grads):
        raise FloatingPointError(
            f"non-finite gradients in {type(module).__name__} (lr={group['lr']}): the training "
            "diverged; lower the learning rate"
        )


def _rotate_first(m: Any, a: Any) -> Any:
    return m @ a


def _rotate_second(v: Any, a: Any) -> Any:
    # Variances of independent entries mix with squared coefficients.
    return v @ (a * a)


class MatrixPlan:
    """One step of a module ``W = U S Vᵀ`` (see module docstring for the formulas)."""

    def __init__(self, module: FactoredModule, group: dict, state: Any, *, galerkin: bool) -> None:
        self.module, self.group, self.galerkin = module, group, galerkin
        u0, s0, v0 = module.U, module.S, module.V
        self.u0, self.s0, self.v0 = u0, s0, v0
        self.r0 = int(s0.shape[0])
        g_k, g_l, g_s = u0.grad, v0.grad, s0.grad
        _require_finite(module, group, g_s, g_k, g_l)
        wd = group["weight_decay"]
        if wd:
            # L2 penalty (wd/2)‖W‖² added to the loss: its K/L/S gradients are wd·K, wd·L, wd·S.
            g_k = g_k + wd * (u0 @ s0)
            g_l = g_l + wd * (v0 @ s0.mT)
            g_s = g_s + wd * s0
        self.adam = group["substep"] == "adam"
        if self.adam:
            st = state[s0]
            self.step_count = int(st.get("step", torch.tensor(0.0)).item()) + 1
            st["step"] = torch.tensor(float(self.step_count))
            d_k = _adam_direction(state[u0], g_k, self.step_count, group, columnwise=True)
            d_l = _adam_direction(state[v0], g_l, self.step_count, group, columnwise=True)
            d_s = None if galerkin else _adam_direction(st, g_s, self.step_count, group)
        else:
            d_k, d_l, d_s = g_k, g_l, g_s
        self.d_k, self.d_l, self.d_s = d_k, d_l, d_s
        # New directions: span of the K/L updates outside the old bases (K₁ − K₀ = −h·d_k, and
        # K₀ = U₀S₀ lies in range(U₀), so augmenting with d_k avoids a cancellation).
        self.u_new, self.u_hat = augment_basis(u0, d_k)
        self.v_new, self.v_hat = augment_basis(v0, d_l)
        self.core_leaf: torch.Tensor | None = None

    # -- parallel BUG ----------------------------------------------------------------------
    def parallel_core(self, h: float) -> torch.Tensor:
        """``Ŝ₁ = [[S₀ − h·d_S, L₁ᵀṼ], [ŨᵀK₁, 0]]`` with ``L₁ᵀṼ = −h·d_Lᵀ Ṽ``, ``ŨᵀK₁ = −h·Ũᵀ d_K``."""
        r = self.r0
        s0 = self.s0.detach()
        core = s0.new_zeros(self.u_hat.shape[1], self.v_hat.shape[1])
        core[:r, :r] = s0 - h * self.d_s
        core[:r, r:] = -h * (self.d_l.mT @ self.v_new)
        core[r:, :r] = -h * (self.u_new.mT @ self.d_k)
        return core

    # -- augmented BUG (DLRT) -----------------------------------------------------------------
    def augmented_point(self) -> dict[str, torch.Tensor]:
        """Factors ``(Û, Ŝ₀, V̂)`` with ``Ŝ₀ = [[S₀, 0], [0, 0]]``: the same weight as now, in the
        augmented bases, with ``Ŝ₀`` a leaf whose gradient is ``Ûᵀ G V̂``."""
        r = self.r0
        core = self.s0.detach().new_zeros(self.u_hat.shape[1], self.v_hat.shape[1])
        core[:r, :r] = self.s0.detach()
        self.core_leaf = core.requires_grad_(True)
        # Detached bases: the re-evaluation computes the Galerkin gradient only.
        return {"U": self.u_hat.detach(), "S": self.core_leaf, "V": self.v_hat.detach()}

    def galerkin_grad(self) -> torch.Tensor:
        leaf = self.core_leaf
        assert leaf is not None
        if leaf.grad is None:
            leaf.grad = torch.zeros_like(leaf)
        return leaf.grad

    def galerkin_core(self, h: float, state: Any) -> torch.Tensor:
        """``Ŝ₁ = Ŝ₀ − h·d_Ŝ`` with ``d_Ŝ`` the (preconditioned) Galerkin gradient ``Ûᵀ G V̂``."""
        core0 = self.core_leaf.detach()
        g = self.galerkin_grad()
        wd = self.group["weight_decay"]
        if wd:
            g = g + wd * core0
        if self.adam:
            st = state[self.s0]
            r = self.r0
            aug: dict[str, Any] = {}
            if "exp_avg" in st:
                aug["exp_avg"] = torch.zeros_like(core0)
                aug["exp_avg_sq"] = torch.zeros_like(core0)
                aug["exp_avg"][:r, :r] = st["exp_avg"]
                aug["exp_avg_sq"][:r, :r] = st["exp_avg_sq"]
            d = _adam_direction(aug, g, self.step_count, self.group)
            self.s_moments = aug
        else:
            d = g
        return core0 - h * d

    # -- truncation and write-back --------------------------------------------------------------
    def truncate(self, core: torch.Tensor, control: RankControl) -> tuple[int, ...]:
        eye_u = torch.eye(core.shape[0], dtype=core.dtype, device=core.device)
        eye_v = torch.eye(core.shape[1], dtype=core.dtype, device=core.device)
        self.p, self.s1, self.q, self.tail = truncate(eye_u, core, eye_v, control)
        return (int(self.s1.shape[0]),)

    def apply(self, state: Any, swap: Any) -> None:
        r = self.r0
        u1, v1, s1 = self.u_hat @ self.p, self.v_hat @ self.q, self.s1
        kappa = self.group["max_condition"]
        # Coordinates of the new bases in the augmented ones: P = ÛᵀU₁, Q = V̂ᵀV₁.
        p_coord, q_coord = self.p, self.q
        u1, ru = _reorthonormalize(u1)
        v1, rv = _reorthonormalize(v1)
        if ru is not None or rv is not None:
            # U₁ = Q_u R_u, V₁ = Q_v R_v: the same weight is Q_u (R_u S₁ R_vᵀ) Q_vᵀ.
            if ru is not None:
                s1 = ru @ s1
            if rv is not None:
                s1 = s1 @ rv.mT
            # Restore a diagonal core (needed for the condition bound and cheap to do).
            pp, sig, qh = torch.linalg.svd(s1)
            u1, v1, s1 = u1 @ pp, v1 @ qh.mT, torch.diag(sig)
            p_coord, q_coord = self.u_hat.mT @ u1, self.v_hat.mT @ v1
        if kappa is not None:
            s1 = torch.diag(clamp_condition(torch.diagonal(s1), kappa))
        # Rotate the moments into the new bases: a_u = U₀ᵀU₁ (r₀ × r₁) maps coefficients in the
        # old basis to the new one (the new directions of Û carry no history), likewise a_v.
        a_u = p_coord[:r, :]
        a_v = q_coord[:r, :]
        new_states: dict[str, dict[str, Any]] = {"U": {}, "S": {}, "V": {}}
        if self.adam:
            st_u, st_v, st_s = state[self.u0], state[self.v0], state[self.s0]
            new_states["U"] = {
                "exp_avg": _rotate_first(st_u["exp_avg"], a_v),
                "exp_avg_sq": _rotate_second(st_u["exp_avg_sq"], a_v),
            }
            new_states["V"] = {
                "exp_avg": _rotate_first(st_v["exp_avg"], a_u),
                "exp_avg_sq": _rotate_second(st_v["exp_avg_sq"], a_u),
            }
            if self.galerkin:
                m, v, pu, qv = (
                    self.s_moments["exp_avg"],
                    self.s_moments["exp_avg_sq"],
                    p_coord,
                    q_coord,
                )
            else:
                m, v, pu, qv = st_s["exp_avg"], st_s["exp_avg_sq"], a_u, a_v
            new_states["S"] = {
                "step": st_s["step"],
                "exp_avg": pu.mT @ m @ qv,
                "exp_avg_sq": (pu * pu).mT @ v @ (qv * qv),
            }
        old = {"U": self.u0, "S": self.s0, "V": self.v0}
        new = self.module.set_factors(U=u1, S=s1, V=v1)
        for role in ("U", "S", "V"):
            swap(self.group, old[role], new[role], new_states[role])

    @property
    def ranks(self) -> tuple[int, ...]:
        return (self.r0,)


class TuckerPlan:
    """One step of a Tucker module ``C ×_i U_i`` (``integrators.md`` §3.4 and §3.5)."""

    def __init__(self, module: FactoredModule, group: dict, state: Any, *, galerkin: bool) -> None:
        # (the optimizer has refused substep="adam" and max_condition for Tucker layers)
        self.module, self.group, self.galerkin = module, group, galerkin
        self.c0 = module.core
        self.us = [getattr(module, f"U{i}") for i in range(4)]
        self.r0 = tuple(int(n) for n in self.c0.shape)
        g_c = self.c0.grad
        _require_finite(module, group, g_c, *(u.grad for u in self.us))
        if group["weight_decay"]:
            g_c = g_c + group["weight_decay"] * self.c0
        self.g_c = g_c
        self.g = [u.grad for u in self.us]
        pairs = [augment_basis(u, g) for u, g in zip(self.us, self.g, strict=True)]
        self.u_new = [p[0] for p in pairs]
        self.u_hat = [p[1] for p in pairs]
        self.core_leaf: torch.Tensor | None = None

    def _augmented_shape(self) -> tuple[int, ...]:
        return tuple(u.shape[1] for u in self.u_hat)

    def parallel_core(self, h: float) -> torch.Tensor:
        """All-old block ``C₀ − h·g_C``; block new in mode ``i`` only:
        ``Ten_i(Ũ_iᵀ K_i(t₁) Q_iᵀ) = −h·Ten_i(Ũ_iᵀ g_i Q_iᵀ)``; other blocks zero (§3.5)."""
        c0 = self.c0.detach()
        core = pad(c0 - h * self.g_c, self._augmented_shape())
        for i, (u_new, g_i) in enumerate(zip(self.u_new, self.g, strict=True)):
            p_i = u_new.shape[1]
            if p_i == 0:
                continue
            block = -h * (u_new.mT @ g_i) @ core_row_basis(c0, i).mT
            index = [slice(0, r) for r in self.r0]
            index[i] = slice(self.r0[i], self.r0[i] + p_i)
            core[tuple(index)] = fold(block, i, self.r0)
        return core

    def augmented_point(self) -> dict[str, torch.Tensor]:
        core = pad(self.c0.detach(), self._augmented_shape())
        self.core_leaf = core.requires_grad_(True)
        out = {"core": self.core_leaf}
        out.update({f"U{i}": u.detach() for i, u in enumerate(self.u_hat)})
        return out

    def galerkin_grad(self) -> torch.Tensor:
        leaf = self.core_leaf
        assert leaf is not None
        if leaf.grad is None:
            leaf.grad = torch.zeros_like(leaf)
        return leaf.grad

    def galerkin_core(self, h: float, state: Any) -> torch.Tensor:
        core0 = self.core_leaf.detach()
        g = self.galerkin_grad()
        if self.group["weight_decay"]:
            g = g + self.group["weight_decay"] * core0
        return core0 - h * g

    def truncate(self, core: torch.Tensor, control: TuckerRankControl) -> tuple[int, ...]:
        self.c1, self.p, ranks = truncate_core(core, control)
        return tuple(ranks)

    def apply(self, state: Any, swap: Any) -> None:
        new_u = []
        c1 = self.c1
        for i, (u_hat, p) in enumerate(zip(self.u_hat, self.p, strict=True)):
            u, rr = _reorthonormalize(u_hat @ p)
            if rr is not None:
                c1 = torch.movedim(torch.tensordot(rr, c1, dims=([1], [i])), 0, i)
            new_u.append(u)
        old = {"core": self.c0, **{f"U{i}": u for i, u in enumerate(self.us)}}
        new = self.module.set_factors(core=c1, **{f"U{i}": u for i, u in enumerate(new_u)})
        for role, p_old in old.items():
            swap(self.group, p_old, new[role], {})

    @property
    def ranks(self) -> tuple[int, ...]:
        return self.r0
