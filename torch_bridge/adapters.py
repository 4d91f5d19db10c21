"""Rank-adaptive low-rank adapters with a peft-like API.

``get_dlra_model(model, DLRAConfig(target_modules=[...], r=8, rtol=0.1))`` freezes ``model``
and wraps each targeted ``nn.Linear``/``nn.Conv2d`` in a :class:`LowRankAdapter`:
``y = base(x) + scaling·(U S Vᵀ) x`` (``scaling = alpha / r₀``, default 1) with frozen base weight
``W₀`` and orthonormal
``U``, ``V``.  The adapters are trained by :class:`torch_bridge.ParallelBUG` (one backward pass per
step, ranks adapted by the truncation tolerance): ``model.make_optimizer(lr)``.

Differences from peft's LoRA, on purpose:

* the adapter starts at ``S = 0`` with random orthonormal ``U``, ``V`` (LoRA: ``B = 0``), so the
  model is unchanged at the start;
* the scaling ``alpha / r₀`` uses the **initial** rank and never changes: a rank change never
  rescales the adapter (GeoLoRA's research code resets it to ``alpha / r`` after truncation,
  silently changing the model);
* ranks change during training; parameters and optimizer state follow the current rank.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from dlra._checks import is_integer

from ._base import FactoredModule
from ._functional import factored_conv2d, factored_linear
from .layers import MatrixFactoredModule
from .optim import FixedRankParallelBUG, ParallelBUG

__all__ = ["DLRAConfig", "DLRAModel", "LowRankAdapter", "get_dlra_model"]

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.pt"


@dataclass
class DLRAConfig:
    """Which modules get adapters and how their ranks are controlled.

    ``target_modules``: a list of module names or name suffixes (``"fc1"`` matches
    ``"encoder.fc1"``), or one regular expression matched against full names (peft's rule).
    ``r``: initial rank.  ``tol``/``rtol``: truncation tolerance of the optimizer (absolute /
    relative to ``‖Ŝ‖_F``); with neither, ranks stay at ``r``.  ``alpha``: the adapter is scaled
    by ``alpha / r`` (default: 1).  With explicit Euler substeps the step taken on the weight is
    ``(alpha / r)²·lr``: keep the default and tune ``lr`` instead.  ``max_rank``/``min_rank``:
    rank bounds.  ``modules_to_save``: names of modules kept trainable (e.g. a new head).
    """

    target_modules: list[str] | str
    r: int = 8
    tol: float | None = None
    rtol: float | None = None
    alpha: float | None = None
    max_rank: int | None = None
    min_rank: int = 1
    modules_to_save: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r < 1:
            raise ValueError(f"r must be a positive integer, got {self.r!r}")
        if not self.target_modules:
            raise ValueError("target_modules must name at least one module")
        if self.alpha is not None and not float(self.alpha) > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha!r}")

    @property
    def scaling(self) -> float:
        """``alpha / r`` (1 when ``alpha`` is not given)."""
        return 1.0 if self.alpha is None else float(self.alpha) / self.r

    def matches(self, name: str) -> bool:
        if isinstance(self.target_modules, str):
            return re.fullmatch(self.target_modules, name) is not None
        return any(name == t or name.endswith("." + t) for t in self.target_modules)


def _random_orthonormal(n: int, r: int, like: torch.Tensor, generator: Any = None) -> torch.Tensor:
    x = torch.randn(n, r, dtype=like.dtype, generator=generator).to(like.device)
    q, _ = torch.linalg.qr(x, mode="reduced")
    return q


class LowRankAdapter(MatrixFactoredModule):
    """``base(x) + scaling·(U S Vᵀ) x`` around a frozen ``nn.Linear`` or ``nn.Conv2d``."""

    def __init__(
        self, base: nn.Module, r: int, scaling: float = 1.0, generator: Any = None
    ) -> None:
        super().__init__()
        if isinstance(base, nn.Linear):
            n, m = base.out_features, base.in_features
        elif isinstance(base, nn.Conv2d):
            if base.groups != 1 or base.padding_mode != "zeros" or isinstance(base.padding, str):
                raise ValueError("Conv2d adapters need groups=1 and numeric zero padding")
            n, m = base.out_channels, base.weight[0].numel()
        else:
            raise TypeError(
                f"adapters wrap nn.Linear or nn.Conv2d modules, got {type(base).__name__}"
            )
        if not is_integer(r) or r < 1:
            raise ValueError(f"r must be a positive integer, got {r!r}")
        if r > min(n, m):
            raise ValueError(f"r={r} exceeds min(out, in) = {min(n, m)} of {base}")
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.grad_mode = "kls"
        self.scaling = float(scaling)
        # factors of a half-precision base in float32 (as peft's autocast_adapter_dtype): the
        # optimizers' QR and SVD need float32 or float64
        w = base.weight
        if w.dtype in (torch.float16, torch.bfloat16):
            w = w.float()
        self._init_factors(
            {
                "U": _random_orthonormal(n, r, w, generator),
                "S": torch.zeros(r, r, dtype=w.dtype, device=w.device),
                "V": _random_orthonormal(m, r, w, generator),
            }
        )

    def delta_weight(self) -> torch.Tensor:
        """``scaling·U S Vᵀ`` in the shape (and dtype) of ``base.weight``."""
        w = self.base.weight
        return (self.scaling * self.weight_matrix()).reshape(w.shape).to(w.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        u, s, v = self._current("U"), self._current("S"), self._current("V")
        # the adapter path runs in the factors' dtype (float32 for a half-precision base, unless
        # autocast chooses), its result is added in the base's
        xa = x if torch.is_autocast_enabled() else x.to(u.dtype)
        if isinstance(self.base, nn.Linear):
            delta = factored_linear(xa, u, s, v, None)
        else:
            b = self.base
            delta = factored_conv2d(
                xa, u, s, v, None, b.kernel_size, b.stride, b.padding, b.dilation
            )
        return y + (self.scaling * delta).to(y.dtype)

    @torch.no_grad()
    def merged(self) -> nn.Module:
        """The base module with ``W₀ + ΔW`` written into its weight."""
        self.base.weight.add_(self.delta_weight())
        return self.base

    def extra_repr(self) -> str:
        return f"rank={self.rank}, scaling={self.scaling:g}"


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)


class DLRAModel(nn.Module):
    """A model with low-rank adapters (see :func:`get_dlra_model`); calls go to ``base_model``."""

    def __init__(self, model: nn.Module, config: DLRAConfig, *, seed: int | None = 0) -> None:
        super().__init__()
        self.config = config
        for p in model.parameters():
            p.requires_grad_(False)
        targets = [
            (name, m)
            for name, m in model.named_modules()
            if name and config.matches(name) and not isinstance(m, FactoredModule)
        ]
        targets = [(n, m) for n, m in targets if not isinstance(m, LowRankAdapter)]
        if not targets:
            raise ValueError(
                f"target_modules {config.target_modules!r} match no module of the model; "
                f"module names are: {[n for n, _ in model.named_modules() if n][:20]}"
            )
        generator = None
        if seed is not None:
            generator = torch.Generator().manual_seed(seed)
        for name, module in targets:
            adapter = LowRankAdapter(module, config.r, config.scaling, generator)
            _set_submodule(model, name, adapter)
        for name in config.modules_to_save:
            for p in model.get_submodule(name).parameters():
                p.requires_grad_(True)
        self.base_model = model

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.base_model(*args, **kwargs)

    # -- inspection --------------------------------------------------------------------------------
    def adapters(self) -> dict[str, LowRankAdapter]:
        return {n: m for n, m in self.base_model.named_modules() if isinstance(m, LowRankAdapter)}

    def ranks(self) -> dict[str, int]:
        return {n: m.rank for n, m in self.adapters().items()}

    def get_nb_trainable_parameters(self) -> tuple[int, int]:
        """``(trainable, all)`` parameter entries (peft's method name)."""
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return trainable, sum(p.numel() for p in self.parameters())

    def print_trainable_parameters(self) -> None:
        trainable, total = self.get_nb_trainable_parameters()
        print(
            f"trainable params: {trainable:,d} || all params: {total:,d} || "
            f"trainable%: {100 * trainable / total:.4f} || ranks: {self.ranks()}"
        )

    # -- training ------------------------------------------------------------------------------------
    def make_optimizer(self, lr: float, **kwargs: Any) -> ParallelBUG:
        """:class:`ParallelBUG` over the trainable parameters with the config's rank control
        (:class:`FixedRankParallelBUG` when the config gives neither ``tol`` nor ``rtol``)."""
        params = [p for p in self.parameters() if p.requires_grad]
        c = self.config
        if c.tol is None and c.rtol is None:
            return FixedRankParallelBUG(params, lr, **kwargs)
        return ParallelBUG(
            params,
            lr,
            tol=c.tol,
            rtol=c.rtol,
            min_rank=c.min_rank,
            max_rank=c.max_rank,
            **kwargs,
        )

    # -- saving --------------------------------------------------------------------------------------
    def adapter_state_dict(self) -> dict[str, torch.Tensor]:
        """The adapter factors (current ranks) and the ``modules_to_save`` parameters only."""
        keep = set()
        for name, m in self.adapters().items():
            keep.update(f"{name}.{f}" for f in m.factor_names)
        for name in self.config.modules_to_save:
            keep.update(f"{name}.{k}" for k in self.base_model.get_submodule(name).state_dict())
        return {k: v.detach().clone() for k, v in self.base_model.state_dict().items() if k in keep}

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write ``adapter_config.json`` and ``adapter_model.pt`` (adapters only) to ``directory``."""
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, CONFIG_NAME), "w") as f:
            json.dump(asdict(self.config), f, indent=2)
        torch.save(self.adapter_state_dict(), os.path.join(directory, WEIGHTS_NAME))

    def load_adapter(self, directory: str | os.PathLike) -> None:
        """Load adapters saved by :meth:`save_pretrained` (at whatever ranks they had)."""
        state = torch.load(os.path.join(directory, WEIGHTS_NAME), weights_only=True)
        expected = set(self.adapter_state_dict())
        if set(state) != expected:
            raise ValueError(
                "saved adapters do not match this model: missing "
                f"{sorted(expected - set(state))}, unexpected {sorted(set(state) - expected)}"
            )
        self.base_model.load_state_dict(state, strict=False)

    @classmethod
    def from_pretrained(cls, model: nn.Module, directory: str | os.PathLike) -> DLRAModel:
        """Wrap ``model`` (the base model) with the adapters saved in ``directory``."""
        with open(os.path.join(directory, CONFIG_NAME)) as f:
            config = DLRAConfig(**json.load(f))
        out = cls(model, config)
        out.load_adapter(directory)
        return out

    @torch.no_grad()
    def merge_and_unload(self) -> nn.Module:
        """Add every adapter into its base weight, remove the adapters, return the base model."""
        for name, adapter in self.adapters().items():
            _set_submodule(self.base_model, name, adapter.merged())
        return self.base_model


def get_dlra_model(model: nn.Module, config: DLRAConfig, *, seed: int | None = 0) -> DLRAModel:
    """Freeze ``model`` and add rank-adaptive low-rank adapters to the modules named in
    ``config.target_modules`` (peft's ``get_peft_model``).  ``seed`` fixes the random initial
    bases (``None``: torch's global generator)."""
    return DLRAModel(model, config, seed=seed)
