"""Shared fixtures: the backends every numerical test runs on."""

from __future__ import annotations

import numpy as np
import pytest

try:
    import torch
except ImportError:  # pragma: no cover - torch is part of the test set-up
    torch = None

BACKENDS = ["numpy"]
if torch is not None:
    BACKENDS.append("torch")
    if torch.cuda.is_available():  # pragma: no cover - only on GPU machines
        BACKENDS.append("torch-cuda")


class Xp:
    """Converts numpy test data to the backend under test."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def asarray(self, a: np.ndarray):
        if self.name == "numpy":
            return np.asarray(a)
        device = "cuda" if self.name == "torch-cuda" else "cpu"
        return torch.as_tensor(np.asarray(a), device=device)

    def to_numpy(self, a) -> np.ndarray:
        return np.asarray(a) if self.name == "numpy" else a.detach().cpu().numpy()


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """One BLAS thread for the whole suite: the test matrices are small, and an oversubscribed
    OpenBLAS on a 2-core CI machine is several times slower than a single thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(params=BACKENDS)
def xp(request) -> Xp:
    return Xp(request.param)
