"""Optimizers that integrate the gradient flow ``Ẇ = −∇L(W)`` on the low-rank manifold.

They are ``torch.optim.Optimizer`` subclasses: parameter groups, ``defaults``, ``zero_grad``,
``state_dict``/``load_state_dict`` (across rank changes) and learning-rate schedulers work as
for ``torch.optim.SGD``.  Parameters that are not factors of a :mod:`torch_bridge` module (biases,
norms, dense layers) are updated by SGD (``substep="euler"``) or Adam (``substep="adam"``) with
the same hyperparameters.

* :class:`AugmentedBUG` (alias :data:`DLRT`): the rank-adaptive BUG integrator (Ceruti, Kusch &
  Lubich 2022) as in DLRT (Schotthöfer et al., NeurIPS 2022).  K and L from one evaluation of
  the gradient, bases augmented to ``2r``, then a Galerkin S-step on the augmented bases, which
  needs the gradient ``Ûᵀ G V̂`` re-evaluated through ``step(closure)``.  **Two forward and two
  backward passes per step.**  For the gradient flow with Euler substeps the augmented step
  ``Ŝ₁ = Ŝ₀ − h Ûᵀ G V̂`` satisfies the descent property ``L(W₁) ≤ L(W₀) + C·ϑ`` of the
  integrator (truncation ``ϑ``).
* :class:`ParallelBUG` (alias :data:`GeoLoRA`): the parallel BUG integrator (Ceruti, Kusch &
  Lubich 2024) as in GeoLoRA (Schotthöfer et al., ICLR 2025): K, L and S from the same
  gradient, the new–new block of the augmented core dropped.  **One forward and one backward
  pass per step**; cost beyond plain low-rank SGD: two thin QRs (``n × 2r``) and one ``2r × 2r``
  SVD per layer.
* :class:`FixedRankAugmentedBUG`, :class:`FixedRankParallelBUG`: the same steps truncated back
  to each layer's current rank.

Rank control per parameter group: ``tol`` (absolute) and/or ``rtol`` (relative to ``‖Ŝ‖_F``)
bound the Frobenius norm discarded by each truncation, ranks clamped to
``[min_rank, max_rank]``.  ``max_condition=κ`` clamps the singular values of ``S`` after each
step so that ``cond(S) ≤ κ`` (Savostianova et al., NeurIPS 2023).

Layers must use ``grad_mode="kls"`` (the default): their ``U.grad``, ``V.grad``, ``S.grad`` are the
K-, L- and S-step gradients, computed in the one backward pass without ``S⁻¹``.

Distributed: under ``torch.distributed`` with more than one process the factor gradients are
averaged here (DDP must ignore the factors: :func:`torch_bridge.prepare_ddp`), rank decisions
are taken from process 0, and the new factors and their state are broadcast from process 0.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from dlra import RankControl
from dlra._checks import is_real

from . import distributed as _dist
from ._base import FactoredModule, owner_of
from ._plans import MatrixPlan, TuckerPlan
from .tucker import tucker_control

__all__ = [
    "DLRT",
    "AugmentedBUG",
    "FixedRankAugmentedBUG",
    "FixedRankParallelBUG",
    "GeoLoRA",
    "ParallelBUG",
]

_SUBSTEPS = ("euler", "adam")


def _check_number(value: Any, name: str, *, low: float, strict: bool) -> float:
    if not (isinstance(value, bool) or is_real(value)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if isinstance(value, bool) or not (v > low if strict else v >= low) or v == float("inf"):
        bound = f"> {low}" if strict else f"≥ {low}"
        raise ValueError(f"Invalid {name}: {value!r} (must be finite and {bound})")
    return v


class _FactoredOptimizer(Optimizer):
    """Shared machinery; see the module docstring."""

    adaptive: bool = True
    galerkin: bool = False  # True: S-step on the augmented bases (needs a closure)
    evaluations_per_step: int = 1

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        *,
        tol: float | None = None,
        rtol: float | None = None,
        min_rank: int = 1,
        max_rank: int | None = None,
        substep: str = "euler",
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        max_condition: float | None = None,
        process_group: Any = None,
    ) -> None:
        if isinstance(params, nn.Module):
            params = params.parameters()
        defaults = {
            "lr": lr,
            "tol": tol,
            "rtol": rtol,
            "min_rank": min_rank,
            "max_rank": max_rank,
            "substep": substep,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "max_condition": max_condition,
        }
        self.process_group = process_group
        #: Number of closure evaluations (forward + backward passes) made by ``step``.
        self.evaluations = 0
        super().__init__(params, defaults)

    # -- validation ---------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        try:
            self._validate(self.param_groups[-1])
        except (TypeError, ValueError):
            self.param_groups.pop()  # a rejected group must not stay and be stepped
            raise

    def _validate(self, group: dict[str, Any]) -> None:
        _check_number(group["lr"], "learning rate", low=0.0, strict=False)  # 0 as torch.optim
        _check_number(group["eps"], "eps", low=0.0, strict=True)
        _check_number(group["weight_decay"], "weight_decay", low=0.0, strict=False)
        if group["substep"] not in _SUBSTEPS:
            raise ValueError(f"substep must be 'euler' or 'adam', got {group['substep']!r}")
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        for b in betas:
            _check_number(b, "betas entry", low=0.0, strict=False)
        if not all(float(b) < 1.0 for b in betas):
            raise ValueError(f"Invalid betas: {betas!r} (two numbers in [0, 1))")
        if group["max_condition"] is not None:
            _check_number(group["max_condition"], "max_condition", low=1.0, strict=False)
        if self.adaptive:
            if group["tol"] is None and group["rtol"] is None:
                raise ValueError(
                    f"{type(self).__name__} adapts ranks: give tol and/or rtol (or use "
                    f"FixedRank{type(self).__name__} to keep ranks fixed)"
                )
            RankControl(
                tol=group["tol"],
                rtol=group["rtol"],
                min_rank=group["min_rank"],
                max_rank=group["max_rank"],
            )
        elif group["tol"] is not None or group["rtol"] is not None:
            raise ValueError(f"{type(self).__name__} keeps ranks fixed and takes no tol/rtol")
        for p in group["params"]:
            own = owner_of(p)
            if own is not None:
                _check_tucker_options(own[0], group)

    # -- bookkeeping of factor parameters ----------------------------------------------------------
    def _refresh(self) -> None:
        """Point the parameter groups at the modules' current factor parameters (they change
        when a rank changes or a state dict of another rank is loaded into the model)."""
        for group in self.param_groups:
            params = group["params"]
            for i, p in enumerate(params):
                own = owner_of(p)
                if own is None:
                    continue
                current = getattr(own[0], own[1])
                if current is not p:
                    params[i] = current
                    old_state = self.state.pop(p, None)
                    if old_state and _state_fits(old_state, current):
                        self.state[current] = old_state

    def _swap(self, group: dict, old: nn.Parameter, new: nn.Parameter, state: dict) -> None:
        params = group["params"]
        if new is not old:
            for i, p in enumerate(params):
                if p is old:
                    params[i] = new
                    break
            self.state.pop(old, None)
        if state:
            self.state[new] = state
        else:
            self.state.pop(new, None)

    def _units(self) -> tuple[list[tuple[FactoredModule, dict]], list[tuple[nn.Parameter, dict]]]:
        """Factored modules with gradients (and their group), and the other parameters."""
        modules: dict[FactoredModule, dict] = {}
        roles: dict[FactoredModule, set[str]] = {}
        dense = []
        for group in self.param_groups:
            for p in group["params"]:
                own = owner_of(p)
                if own is None:
                    dense.append((p, group))
                    continue
                module, role = own
                if modules.setdefault(module, group) is not group:
                    raise ValueError(
                        f"the factors of {type(module).__name__} are split over parameter groups; "
                        "put all factors of a module in one group"
                    )
                roles.setdefault(module, set()).add(role)
        units = []
        for module, group in modules.items():
            if roles[module] != set(module.factor_names):
                missing = sorted(set(module.factor_names) - roles[module])
                raise ValueError(
                    f"the optimizer holds only some factors of {type(module).__name__} "
                    f"(missing {missing}); pass all of the module's parameters"
                )
            factors = module.factor_parameters()
            frozen = [n for n, p in zip(module.factor_names, factors) if not p.requires_grad]
            if len(frozen) == len(factors):
                continue  # a frozen layer
            if frozen:
                raise ValueError(
                    f"the factors {frozen} of {type(module).__name__} are frozen "
                    "(requires_grad=False) and the others are not: an integrator step moves all "
                    "factors of a layer together; freeze all of them or none"
                )
            if any(p.grad is None for p in factors):
                continue
            if module.grad_mode != "kls":
                raise ValueError(
                    f"{type(module).__name__} has grad_mode={module.grad_mode!r}; the DLRA "
                    "optimizers need grad_mode='kls'"
                )
            dtype = factors[0].dtype
            if dtype not in _FACTOR_DTYPES:
                raise TypeError(
                    f"the factors of {type(module).__name__} are {dtype}: the DLRA optimizers "
                    "need float32 or float64 factors (their QR and SVD have no kernels for "
                    "half precision); keep low-rank layers in float32 and use torch.autocast "
                    "for mixed precision"
                )
            _check_tucker_options(module, group)  # the group may have been edited since
            units.append((module, group))
        return units, dense

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._refresh()
        super().zero_grad(set_to_none)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state saved by ``state_dict()``, possibly at other ranks than at construction:
        load the model's state dict first (the layers take the saved ranks), then this."""
        self._refresh()
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state.get(p)
                if st and not _state_fits(st, p):
                    raise ValueError(
                        "optimizer state does not match the parameter shapes (ranks) of the "
                        "model: load the model's state_dict (saved at the same step) first"
                    )

    # -- the step -------------------------------------------------------------------------------
    def _plan(self, module: FactoredModule, group: dict) -> Any:
        cls = MatrixPlan if module.kind == "matrix" else TuckerPlan
        return cls(module, group, self.state, galerkin=self.galerkin)

    def _control(self, plan: Any) -> Any:
        g = plan.group
        if plan.module.kind == "matrix":
            if not self.adaptive:
                return RankControl(rank=plan.ranks[0])
            return RankControl(
                tol=g["tol"], rtol=g["rtol"], min_rank=g["min_rank"], max_rank=g["max_rank"]
            )
        if not self.adaptive:
            return tucker_control(ranks=plan.ranks)
        return tucker_control(
            tol=g["tol"], rtol=g["rtol"], min_rank=g["min_rank"], max_rank=g["max_rank"]
        )

    def _evaluate(self, closure: Any) -> Any:
        with torch.enable_grad():
            loss = closure()
        self.evaluations += 1
        return loss

    def _truncate_and_apply(self, plans: list[Any], cores: list[torch.Tensor]) -> None:
        for plan, core in zip(plans, cores, strict=True):
            if not bool(torch.isfinite(core).all()):
                raise FloatingPointError(
                    f"non-finite values in the step of {type(plan.module).__name__} "
                    f"(lr={plan.group['lr']}): the training diverged; lower the learning rate"
                )
        ranks = [
            plan.truncate(core, self._control(plan))
            for plan, core in zip(plans, cores, strict=True)
        ]
        if plans and _dist.is_distributed(self.process_group):
            flat = [r for rs in ranks for r in rs]
            like = cores[0]
            root = _dist.broadcast_ints(flat, like, 0, self.process_group)
            k = 0
            for plan, core, rs in zip(plans, cores, ranks, strict=True):
                mine, theirs = rs, tuple(root[k : k + len(rs)])
                k += len(rs)
                if mine != theirs:
                    if plan.module.kind == "matrix":
                        plan.truncate(core, RankControl(rank=theirs[0]))
                    else:
                        plan.truncate(core, tucker_control(ranks=theirs))
        for plan in plans:
            plan.apply(self.state, self._swap)

    def _dense_step(self, dense: list[tuple[nn.Parameter, dict]]) -> None:
        for p, group in dense:
            if p.grad is None or not p.requires_grad:
                continue
            g = p.grad
            if group["weight_decay"]:
                g = g.add(p, alpha=group["weight_decay"])
            if group["substep"] == "adam":
                st = self.state[p]
                step = int(st.get("step", torch.tensor(0.0)).item()) + 1
                st["step"] = torch.tensor(float(step))
                beta1, beta2 = group["betas"]
                if "exp_avg" not in st:
                    st["exp_avg"] = torch.zeros_like(p)
                    st["exp_avg_sq"] = torch.zeros_like(p)
                st["exp_avg"].mul_(beta1).add_(g, alpha=1 - beta1)
                st["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
                denom = (st["exp_avg_sq"] / (1 - beta2**step)).sqrt_().add_(group["eps"])
                p.addcdiv_(st["exp_avg"], denom, value=-group["lr"] / (1 - beta1**step))
            else:
                p.add_(g, alpha=-group["lr"])

    def _sync_factor_grads(self, units: list[tuple[FactoredModule, dict]]) -> None:
        if units and _dist.is_distributed(self.process_group):
            grads = [p.grad for m, _ in units for p in m.factor_parameters()]
            _dist.all_reduce_mean(grads, self.process_group)

    def _broadcast(self, units: list[tuple[FactoredModule, dict]]) -> None:
        if not units or not _dist.is_distributed(self.process_group):
            return
        tensors = []
        for module, _ in units:
            for p in module.factor_parameters():
                tensors.append(p.data)
                st = self.state.get(p, {})
                tensors.extend(st[k] for k in ("exp_avg", "exp_avg_sq") if k in st)
        _dist.broadcast_(tensors, 0, self.process_group)

    def ranks(self) -> list[tuple[int, ...]]:
        """Current ranks of the factored modules this optimizer trains, in parameter order."""
        seen = []
        for group in self.param_groups:
            for p in group["params"]:
                own = owner_of(p)
                if own is not None and own[0] not in seen:
                    seen.append(own[0])
        return [
            (m.rank,) if m.kind == "matrix" else tuple(m.ranks)
            for m in seen  # type: ignore[attr-defined]
        ]


_FACTOR_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


def _check_tucker_options(module: FactoredModule, group: dict[str, Any]) -> None:
    """The options that Tucker layers do not take, refused before any layer is stepped."""
    if module.kind != "tucker":
        return
    if group["substep"] != "euler":
        raise ValueError(
            f"substep={group['substep']!r} is implemented for matrix layers only; the group "
            f"holds a Tucker layer ({type(module).__name__}): use substep='euler' for it"
        )
    if group["max_condition"] is not None:
        raise ValueError(
            "max_condition applies to matrix layers (U S Vᵀ), not to the Tucker layer "
            f"{type(module).__name__} in this group"
        )


def _state_fits(state: dict[str, Any], p: torch.Tensor) -> bool:
    """Every state tensor has the parameter's shape (or one row of it: per-column moments)."""
    shapes = (tuple(p.shape), (1, *p.shape[1:]))
    return all(
        not torch.is_tensor(v) or v.dim() == 0 or tuple(v.shape) in shapes for v in state.values()
    )


class ParallelBUG(_FactoredOptimizer):
    """Rank-adaptive parallel BUG (GeoLoRA): one forward and one backward pass per step.

    Per layer ``W = U S Vᵀ`` with K/L/S gradients ``G V``, ``Gᵀ U``, ``Uᵀ G V`` (directions
    ``d_K, d_L, d_S``; preconditioned when ``substep="adam"``):

    1. ``Û = [U, Ũ]`` = ``augment_basis(U, d_K)``, ``V̂ = [V, Ṽ]`` = ``augment_basis(V, d_L)``;
    2. ``Ŝ = [[S − h d_S, −h d_Lᵀ Ṽ], [−h Ũᵀ d_K, 0]]`` (``h`` = ``lr``);
    3. truncate ``(Û, Ŝ, V̂)`` by ``tol``/``rtol`` (``dlra.linalg.truncate``).

    Tucker layers: the same per mode (``integrators.md`` §3.5), HOSVD truncation of the core.

    ``step(closure=None)`` uses the gradients already computed (``loss.backward()``); with a
    closure it calls it exactly once.  First order in ``h``; robust to small singular values
    (no ``S⁻¹``).
    """

    adaptive = True
    galerkin = False
    evaluations_per_step = 1

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = self._evaluate(closure) if closure is not None else None
        self._refresh()
        units, dense = self._units()
        self._sync_factor_grads(units)
        plans = [self._plan(m, g) for m, g in units]
        cores = [plan.parallel_core(plan.group["lr"]) for plan in plans]
        self._truncate_and_apply(plans, cores)
        self._dense_step(dense)
        self._broadcast(units)
        return loss


class AugmentedBUG(_FactoredOptimizer):
    """Rank-adaptive augmented BUG (DLRT): two forward and two backward passes per step.

    Per layer: K/L directions from the gradients at the current point (``loss.backward()``
    inside the closure), ``Û``, ``V̂`` by ``augment_basis``; then the closure is evaluated again
    with every layer written in its augmented bases (``Ŝ₀ = [[S, 0], [0, 0]]``: the same
    network function) to get the Galerkin gradient ``Ûᵀ G V̂``; ``Ŝ₁ = Ŝ₀ − h d_Ŝ``; truncation.

    ``step(closure)`` requires a closure that zeroes the gradients, evaluates the loss on the
    same batch and calls ``backward()``, as for ``torch.optim.LBFGS``.
    """

    adaptive = True
    galerkin = True
    evaluations_per_step = 2

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        if closure is None:
            raise RuntimeError(
                f"{type(self).__name__}.step needs a closure (zero_grad, forward, backward on "
                "the same batch): the Galerkin step re-evaluates the gradient in the augmented "
                "bases. Use ParallelBUG for a single backward pass per step."
            )
        loss = self._evaluate(closure)
        self._refresh()
        units, dense = self._units()
        self._sync_factor_grads(units)
        plans = [self._plan(m, g) for m, g in units]
        with ExitStack() as stack:
            for plan in plans:
                stack.enter_context(plan.module.evaluate_at(**plan.augmented_point()))
            self._evaluate(closure)
        if plans and _dist.is_distributed(self.process_group):
            _dist.all_reduce_mean([plan.galerkin_grad() for plan in plans], self.process_group)
        cores = [plan.galerkin_core(plan.group["lr"], self.state) for plan in plans]
        self._truncate_and_apply(plans, cores)
        self._dense_step(dense)
        self._broadcast(units)
        return loss


class FixedRankParallelBUG(ParallelBUG):
    """:class:`ParallelBUG` truncated back to each layer's current rank (one backward pass)."""

    adaptive = False

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        *,
        substep: str = "euler",
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        max_condition: float | None = None,
        process_group: Any = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            substep=substep,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            max_condition=max_condition,
            process_group=process_group,
        )


class FixedRankAugmentedBUG(AugmentedBUG):
    """:class:`AugmentedBUG` truncated back to each layer's current rank (two backward passes)."""

    adaptive = False

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        *,
        substep: str = "euler",
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        max_condition: float | None = None,
        process_group: Any = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            substep=substep,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            max_condition=max_condition,
            process_group=process_group,
        )


#: The rank-adaptive augmented BUG under the name of the paper that trains networks with it.
DLRT = AugmentedBUG
#: The parallel BUG under the name of the paper that fine-tunes adapters with it.
GeoLoRA = ParallelBUG
