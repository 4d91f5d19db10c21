"""The structured ``project_modes_times`` of Tucker ``LinearField`` equals the generic formula."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

import dlra
from dlra.tucker import as_tucker_field
from dlra.tucker.fields import TuckerField


def test_linear_field_project_modes_times_matches_the_generic_formula():
    rng = np.random.default_rng(0)
    n, r, b, k = (9, 7, 8), (3, 2, 4), (5, 4, 6), (2, 3, 4)
    ops = [sp.random(m, m, density=0.4, random_state=j, format="csr") for j, m in enumerate(n)]
    src_core = rng.standard_normal((2, 2, 2))
    src_factors = [rng.standard_normal((m, 2)) for m in n]
    field = dlra.LinearField(
        [(ops[0], None, None), (None, ops[1], ops[2]), (ops[0], None, ops[2])],
        coeffs=[1.0, -0.5j, lambda t: 1 + t],
        source=lambda t: dlra.TuckerTensor(src_core * (1 + t), src_factors, check=False),
    )
    tf = as_tucker_field(field)
    core = rng.standard_normal(r) + 1j * rng.standard_normal(r)
    factors = [np.linalg.qr(rng.standard_normal((m, q)))[0] + 0j for m, q in zip(n, r)]
    bases = [np.linalg.qr(rng.standard_normal((m, q)))[0] + 0j for m, q in zip(n, b)]
    rights = [rng.standard_normal((int(np.prod(b)) // b[i], k[i])) + 1j for i in range(3)]
    fast = tf.project_modes_times(0.3, core, factors, bases, rights)
    slow = TuckerField.project_modes_times(tf, 0.3, core, factors, bases, rights)
    for i in range(3):
        assert fast[i].shape == (n[i], k[i])
        scale = np.linalg.norm(slow[i])
        assert scale > 0
        assert np.linalg.norm(fast[i] - slow[i]) <= 1e-13 * scale
