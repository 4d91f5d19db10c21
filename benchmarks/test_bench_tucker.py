"""pytest-benchmark cases: one step of every Tucker integrator on the 3-D heat equation."""

from __future__ import annotations

import numpy as np
import pytest

import dlra
from benchmarks.measure import integrator_for
from benchmarks.problems import make_tucker_problem
from dlra.tucker import as_tucker_field

METHODS = list(dlra.registry("tucker"))


@pytest.mark.parametrize("n", [64, 128])
@pytest.mark.parametrize("method", METHODS)
def test_tucker_heat_step(benchmark, method, n):
    problem = make_tucker_problem(n, 8)
    integ = integrator_for(method, "tucker")
    F = as_tucker_field(problem.field)
    integ.step(F, problem.Y0, 0.0, problem.h)
    Y1 = benchmark(integ.step, F, problem.Y0, 0.0, problem.h)
    assert np.isfinite(Y1.norm())
