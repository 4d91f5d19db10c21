"""Validation tests run with one BLAS thread: the matrices are small, and an oversubscribed
OpenBLAS is many times slower on a shared 2-core machine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from validation.cli import blas_threads


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread() -> Iterator[None]:
    with blas_threads(1):
        yield
