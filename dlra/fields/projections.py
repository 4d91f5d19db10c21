"""The per-step cache of projected operators (``Xᴴ A X``) and what it knows about the bases.

One integrator step (:class:`~dlra.integrators.base.StepContext`) owns a plain dict that fields
sharing projections (:class:`~dlra.LinearField`) fill and read.  Two kinds of entries:

* ``(field id, side, k, id(X)) → (X, value)``: the projected operator of term ``k`` on basis
  ``X`` (written and read by :meth:`LinearField.projected`);
* ``("augmented", id(Û)) → (Û, AugmentedBasis)``: ``Û = [U₀, Ũ]`` was made by augmenting
  ``U₀``, so the projected operators of ``Û`` have ``U₀``'s as their leading block and cost only
  the products with the new columns.

Every entry holds the basis it is keyed by, so an id cannot be reused by another array while the
cache lives; bases are never modified in place during a step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AugmentedBasis",
    "augmented_from",
    "note_augmented",
    "release",
]


@dataclass
class AugmentedBasis:
    """``Û = [U₀, Ũ]``: ``lead`` is ``U₀`` (None once released), ``width`` its column count, and
    ``saved`` holds ``U₀``'s projected operators copied when ``U₀`` was released."""

    lead: Any | None
    width: int
    saved: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def lead_projection(self, cache: dict, field_id: int, side: str, k: int) -> Any | None:
        """``U₀ᴴ A U₀`` for term ``k`` if it is known (cached or saved), else None."""
        value = self.saved.get((field_id, side, k))
        if value is not None or self.lead is None:
            return value
        hit = cache.get((field_id, side, k, id(self.lead)))
        return hit[1] if hit is not None and hit[0] is self.lead else None


def note_augmented(cache: dict | None, u0: Any, u_hat: Any, width: int) -> None:
    """Record that ``u_hat``'s leading ``width`` columns are ``u0`` verbatim."""
    if cache is not None and u_hat is not u0:
        cache[("augmented", id(u_hat))] = (u_hat, AugmentedBasis(u0, width))


def augmented_from(cache: dict | None, X: Any) -> AugmentedBasis | None:
    """The record of :func:`note_augmented` for basis ``X`` (None if ``X`` was not augmented)."""
    if cache is None:
        return None
    hit = cache.get(("augmented", id(X)))
    return hit[1] if hit is not None and hit[0] is X else None


def release(cache: dict | None, X: Any) -> None:
    """Forget every entry keyed by basis ``X`` (the step no longer uses it), so the cache stops
    keeping it alive.  Augmented bases that lead with ``X`` keep copies of its (small) projected
    operators."""
    if not cache:
        return
    own = [key for key, value in cache.items() if value[0] is X]
    for _, value in cache.items():
        record = value[1]
        if isinstance(record, AugmentedBasis) and record.lead is X:
            for key in own:
                if isinstance(key[0], int):  # (field id, side, k, id(X))
                    record.saved[key[:3]] = cache[key][1]
            record.lead = None
    for key in own:
        del cache[key]
