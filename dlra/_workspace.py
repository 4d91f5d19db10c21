"""Reuse of large scratch blocks within a step and from one step to the next (numpy only).

Why.  A DLRA step at large ``n`` allocates dozens of ``n × r`` blocks (substep stages, copies
for the orthonormalisations, augmented bases, truncated factors).  glibc serves blocks over
32 MiB from fresh memory maps and returns them to the system when they are freed, so every step
pays for fresh, zero-filled pages again: on the 2-core benchmark VM that was about half of a
``midpoint_bug`` step at n = 2^20 (docs/conventions.md).  Keeping the blocks of one step for the
next removes that cost without a process-wide allocator setting.

How.  :meth:`Workspace.empty` hands out a *view* of a block the workspace owns.  A block is free
again when nothing but the workspace refers to it — no view of it is alive anywhere (numpy
views always refer to the array that owns the memory) — which :func:`sys.getrefcount` tells
exactly; so a block can never be handed out while any array still uses its memory, and the
callers need no bookkeeping.  Blocks that escape (a returned factor the user keeps) are simply
never reused while they live.

What is kept.  :meth:`Workspace.end_step` keeps the blocks handed out during the step; a free
block that no step used for a whole step is dropped, and a block still in use from an earlier
step is forgotten (it is the user's).  Between steps the workspace therefore holds at most the
scratch of one step.  Blocks under :data:`MIN_BYTES` (128 KiB) are not pooled: the allocator's
heap already reuses them cheaply.

Integrators activate their (per-thread) workspace for the duration of :meth:`Integrator.step`;
:func:`empty_scratch` is what the linear algebra and the substep solvers call.
"""

from __future__ import annotations

import sys
import threading
from contextvars import ContextVar
from typing import Any

import numpy as np

__all__ = [
    "MIN_BYTES",
    "Workspace",
    "WorkspaceOwner",
    "copy_scratch",
    "empty_scratch",
    "product_scratch",
    "zeros_scratch",
]

#: blocks smaller than this are plain allocations: glibc's default mmap threshold, below which
#: its heap serves and reuses them without fresh pages (above it, a block freed and allocated
#: again is page-faulted in again: at n = 2^10, r = 8 that was a quarter of a midpoint_bug step)
MIN_BYTES = 128 << 10


class _Block:
    __slots__ = ("array", "step")

    def __init__(self, array: np.ndarray, step: int) -> None:
        self.array = array
        self.step = step


def _free_refcount() -> int | None:
    """The reference count ``sys.getrefcount(block.array)`` reports for a block nothing else
    refers to, or None when this interpreter does not count references the way the check needs
    (then nothing is pooled)."""
    if not hasattr(sys, "getrefcount"):  # pragma: no cover - not CPython
        return None
    block = _Block(np.empty(1), 0)
    free = sys.getrefcount(block.array)
    view = block.array[...]
    used = sys.getrefcount(block.array)
    del view
    return free if used == free + 1 and sys.getrefcount(block.array) == free else None


_FREE = _free_refcount()


class Workspace:
    """Large numpy scratch blocks kept for reuse; see the module docstring.  Not thread-safe:
    integrators keep one per thread.

    Blocks are byte buffers: a free block serves any request of at least 8/9 of its size (the
    smallest such block first), whatever the shape and dtype — an n × r block of one dtype
    serves an r × n one, or an n × (r + 1) one a request for n × r.
    """

    def __init__(self) -> None:
        self._blocks: list[_Block] = []
        self._step = 0

    def empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """An uninitialised C-ordered array: a view of a block of this workspace when it has at
        least :data:`MIN_BYTES`, else a plain allocation."""
        dtype = np.dtype(dtype)
        shape = tuple(int(s) for s in shape)
        need = _size(shape, dtype)
        return self._take(shape, dtype, need) if _kept(need) else np.empty(shape, dtype=dtype)

    def _take(self, shape: tuple[int, ...], dtype: np.dtype, need: int) -> np.ndarray:
        """A view of the smallest free block of ``need`` to ``need + need/8`` bytes (a new
        block of ``need`` bytes when there is none), as an array of ``shape`` and ``dtype``.
        The bound keeps a returned factor that the user holds from pinning much more memory
        than it uses."""
        best = None
        best_size = need + need // 8 + 1
        for block in self._blocks:
            size = block.array.nbytes
            if need <= size < best_size and sys.getrefcount(block.array) == _FREE:
                best, best_size = block, size
        if best is None:
            best = _Block(np.empty(need, dtype=np.uint8), self._step)
            self._blocks.append(best)
        best.step = self._step
        return best.array[:need].view(dtype).reshape(shape)

    def end_step(self) -> None:
        """Keep the blocks this step handed out; drop free blocks it did not use and forget
        blocks of earlier steps that are still in use."""
        step = self._step
        self._blocks = [block for block in self._blocks if block.step == step]
        self._step += 1

    @property
    def nbytes(self) -> int:
        """Bytes of the blocks the workspace holds that nothing else uses (its own memory)."""
        return sum(
            block.array.nbytes for block in self._blocks if sys.getrefcount(block.array) == _FREE
        )

    def clear(self) -> None:
        """Drop every block (memory of blocks still in use stays with their users)."""
        self._blocks.clear()


_active: ContextVar[Workspace | None] = ContextVar("dlra_workspace", default=None)


def _size(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Bytes of an array of ``shape`` and ``dtype``."""
    size = dtype.itemsize
    for extent in shape:
        size *= extent
    return size


def _kept(need: int) -> bool:
    """True for blocks of ``need`` bytes that workspaces keep (at least :data:`MIN_BYTES`, on an
    interpreter whose reference counts tell free blocks)."""
    return need >= MIN_BYTES and _FREE is not None


def _pooled(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
    """A scratch block from the active workspace, or None (no step running, or a small block)."""
    need = _size(shape, dtype)
    if not _kept(need):
        return None
    ws = _active.get()
    return None if ws is None else ws._take(tuple(shape), dtype, need)


def empty_scratch(shape: tuple[int, ...], like: Any) -> Any:
    """An uninitialised block of ``like``'s dtype (and device): from the active workspace for
    numpy arrays inside a step, else the backend's plain allocation."""
    if type(like) is np.ndarray:
        out = _pooled(shape, like.dtype)
        return np.empty(shape, dtype=like.dtype) if out is None else out
    from ._backend import backend_of

    return backend_of(like).empty(shape, like=like)


def zeros_scratch(shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
    """A zero numpy block of ``like``'s dtype, from the active workspace where it applies."""
    out = _pooled(shape, like.dtype)
    if out is None:
        return np.zeros(shape, dtype=like.dtype)
    out.fill(0)
    return out


def copy_scratch(x: Any) -> Any:
    """A copy of ``x`` (C-ordered for numpy), in a scratch block where one applies."""
    if type(x) is np.ndarray:
        out = _pooled(x.shape, x.dtype)
        if out is None:
            return x.copy()
        out[...] = x
        return out
    from ._backend import backend_of

    return backend_of(x).copy(x)


def product_scratch(a: Any, b: Any) -> Any:
    """``a @ b`` for a tall ``a`` and a small ``b``: written into a scratch block for 2-D numpy
    arrays of one dtype where one applies, plain ``a @ b`` otherwise."""
    if (
        type(a) is np.ndarray
        and type(b) is np.ndarray
        and a.ndim == 2
        and b.ndim == 2
        and a.dtype == b.dtype
    ):
        out = _pooled((a.shape[0], b.shape[1]), a.dtype)
        if out is not None:
            np.matmul(a, b, out=out)
            return out
    return a @ b


class WorkspaceOwner:
    """Mixin of the integrators: one :class:`Workspace` per thread, active while a step runs.

    Between steps the integrator holds at most the scratch blocks of its last step (numpy states
    from :data:`MIN_BYTES` per block); :meth:`release_workspace` drops them.  Copies and pickles
    of an integrator start with no workspace.
    """

    #: False: every step allocates afresh and nothing is kept between steps
    keep_workspace: bool = True

    def _run_in_workspace(self, step: Any, *args: Any) -> Any:
        if not self.keep_workspace:
            return step(*args)
        ws = self._thread_workspace(create=True)
        token = _active.set(ws)
        try:
            return step(*args)
        finally:
            _active.reset(token)
            ws.end_step()

    def _thread_workspace(self, *, create: bool) -> Workspace | None:
        """The calling thread's workspace of this integrator (made when ``create``, else None
        when there is none yet)."""
        local = self.__dict__.get("_workspace_local")
        if local is None:
            if not create:
                return None
            local = self.__dict__.setdefault("_workspace_local", threading.local())
        ws = getattr(local, "workspace", None)
        if ws is None and create:
            ws = local.workspace = Workspace()
        return ws

    def release_workspace(self) -> None:
        """Drop the scratch blocks this integrator keeps (in the calling thread) for its next
        step; the next step allocates afresh."""
        ws = self._thread_workspace(create=False)
        if ws is not None:
            ws.clear()

    def workspace_nbytes(self) -> int:
        """Bytes of scratch this integrator keeps (in the calling thread) for its next step."""
        ws = self._thread_workspace(create=False)
        return 0 if ws is None else ws.nbytes

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_workspace_local", None)
        state.pop("_validated_for", None)  # a weak reference to the last field validated
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
