"""Shared machinery of the factored modules: parameters allocated for the current rank, replaced
(and re-tagged for the optimizers) when the rank changes.

A registry keyed by parameter identity (weak on both sides) maps every factor ``nn.Parameter``
to its module and role (the attribute name, e.g. ``"U"``); the optimizers of
:mod:`torch_bridge.optim` read it with :func:`owner_of`.  Modules register their factors again
after every event that can create new ``Parameter`` objects (rank change, ``load_state_dict``,
``.to()``, deepcopy, unpickling).  Nothing is attached to the parameters themselves, so models
pickle and deepcopy as usual.
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.utils.weak import WeakIdKeyDictionary

__all__ = ["FactoredModule", "owner_of"]


_OWNERS: WeakIdKeyDictionary = WeakIdKeyDictionary()


def owner_of(p: Any) -> tuple[FactoredModule, str] | None:
    """``(module, role)`` of a factor parameter, or ``None`` for an ordinary parameter.

    For a parameter the module has since replaced (rank change, ``load_state_dict``), this is
    still its former module: ``getattr(module, role)`` is then the current parameter.
    """
    entry = _OWNERS.get(p)
    if entry is None:
        return None
    module = entry[0]()
    if module is None:
        return None
    return module, entry[1]


class FactoredModule(nn.Module):
    """Base class of the layers whose weight is kept in factored form.

    Subclasses set ``factor_names`` (the attribute names of the factor parameters), ``kind``
    (``"matrix"`` for ``U S Vᵀ`` or ``"tucker"``) and call :meth:`_init_factors`.
    """

    factor_names: tuple[str, ...] = ()
    kind: str = ""

    def _init_factors(self, tensors: dict[str, torch.Tensor]) -> None:
        self._override: dict[str, torch.Tensor] | None = None
        for name in self.factor_names:
            self.register_parameter(name, nn.Parameter(tensors[name].detach().clone()))
        self._retag()

    def _retag(self) -> None:
        ref = weakref.ref(self)
        for name in self.factor_names:
            _OWNERS[getattr(self, name)] = (ref, name)

    def factor_parameters(self) -> list[nn.Parameter]:
        """The current factor parameters, in the order of ``factor_names``."""
        return [getattr(self, name) for name in self.factor_names]

    def set_factors(self, **tensors: torch.Tensor) -> dict[str, nn.Parameter]:
        """Replace factors by new values.

        A factor whose shape is unchanged is copied in place (same ``Parameter`` object); one whose
        shape changed gets a new ``Parameter`` (allocated for the new size only).  Returns the
        mapping ``name → parameter`` after the update.
        """
        unknown = set(tensors) - set(self.factor_names)
        if unknown:
            raise TypeError(f"unknown factor names {sorted(unknown)}; known: {self.factor_names}")
        out = {}
        for name, value in tensors.items():
            old = getattr(self, name)
            if old.shape == value.shape:
                with torch.no_grad():
                    old.copy_(value)
                out[name] = old
            else:
                new = nn.Parameter(value.detach().to(old.dtype), requires_grad=old.requires_grad)
                self.register_parameter(name, new)
                out[name] = new
        self._retag()
        return out

    @contextmanager
    def evaluate_at(self, **tensors: torch.Tensor) -> Any:
        """Run forward passes with the given factors instead of the parameters (used by the
        augmented Galerkin step of :class:`torch_bridge.AugmentedBUG`)."""
        self._override = tensors
        try:
            yield
        finally:
            self._override = None

    def _current(self, name: str) -> torch.Tensor:
        if self._override is not None and name in self._override:
            return self._override[name]
        return getattr(self, name)

    # -- keeping the tags and shapes right across torch's own machinery ------------------------
    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        # Saved factors may have another rank: resize before the default loader copies values.
        for name in self.factor_names:
            key = prefix + name
            old = getattr(self, name)
            if key in state_dict and tuple(state_dict[key].shape) != tuple(old.shape):
                new = torch.empty(state_dict[key].shape, dtype=old.dtype, device=old.device)
                self.register_parameter(name, nn.Parameter(new, requires_grad=old.requires_grad))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        # after the load: with assign=True torch has put new Parameter objects in place
        self._retag()

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        out = super()._apply(fn, recurse)
        self._retag()
        return out

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._retag()

    def allocated_parameters(self) -> int:
        """Number of parameter entries held by this module (factors and bias)."""
        return sum(p.numel() for p in self.parameters(recurse=False))
