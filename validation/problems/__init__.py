"""Problem library of the validation suite, shared with the tests and the benchmarks.

Each problem is an object with its parameters, ``field(backend, device)`` (the right-hand side for
``dlra.solve``), ``y0(rank, backend, device)``, ``solution(t)`` (exact or cached reference),
``known_rank``, ``best_error(rank, t)`` and ``error(Y, t)``; see :class:`MatrixProblem`.

==========================  =====  ==========================================================
name                        label  what
==========================  =====  ==========================================================
``rotating``                T1     rotating rank-10 data + ε-perturbation (explicit data)
``prescribed``              T2     singular values 2⁻ʲ, rotating factors, explicit data
``prescribed-ode``          T2     same as ``F(Y) = (W₁+½I)Y + Y(W₂+½I)ᵀ`` (LinearField)
``prescribed-exact``        T2     explicit data of exact rank r (exactness)
``prescribed-exact-ode``    T2     ODE form of exact rank r (orders, ε = 0)
``prescribed-cubic``        T2     ODE form + cubic damping −γYYᵀY (nonlinear, ε = 0)
``prescribed-source``       T2     ODE form + small source δG (normal component ~δ)
``heat``                    T3     heat equation LA + ALᵀ, rank-2 data (exact: expm)
``heat-source``             T3     heat equation with rank-1 source (exact: expm + Lyapunov)
``schrodinger``             T4     Dirichlet Schrödinger with cosine potential (CKL22)
``schrodinger-periodic``    T5     periodic Schrödinger (Kusch24)
``symmetric``               S      symmetric Riccati-type ODE (symmetry preservation)
==========================  =====  ==========================================================

Tucker problems (T6, :mod:`validation.problems.tucker`; ``y0`` returns a ``dlra.TuckerTensor``):

==========================  =====  ==========================================================
``tucker-rotating``         T6     rotating core of multilinear rank (r, r, r), explicit data
``tucker-rotating-ode``     T6     the same as a tangent per-mode LinearField (ε = 0)
``tucker-schrodinger``      T6     3-D Schrödinger with a cosine potential (analogue of T4)
==========================  =====  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._base import MatrixProblem, as_backend, finite_difference_rhs
from .heat import HeatEquation
from .prescribed import PrescribedSingularValues
from .rotating import RotatingMatrix
from .schrodinger import Schrodinger
from .symmetric import SymmetricRiccati
from .tucker import TuckerRotating, TuckerSchrodinger

__all__ = [
    "PROBLEMS",
    "HeatEquation",
    "MatrixProblem",
    "PrescribedSingularValues",
    "RotatingMatrix",
    "Schrodinger",
    "SymmetricRiccati",
    "TuckerRotating",
    "TuckerSchrodinger",
    "as_backend",
    "finite_difference_rhs",
    "make",
]

PROBLEMS: dict[str, Callable[..., MatrixProblem]] = {
    "rotating": RotatingMatrix,
    "prescribed": lambda **kw: PrescribedSingularValues(form="explicit", **kw),
    "prescribed-ode": lambda **kw: PrescribedSingularValues(form="ode", **kw),
    "prescribed-exact": lambda exact_rank=8, **kw: PrescribedSingularValues(
        form="explicit", exact_rank=exact_rank, **{"w_scale": 1.0, **kw}
    ),
    "prescribed-exact-ode": lambda exact_rank=8, **kw: PrescribedSingularValues(
        form="ode", exact_rank=exact_rank, **kw
    ),
    "prescribed-cubic": lambda exact_rank=8, cubic=1.0, **kw: PrescribedSingularValues(
        form="ode", exact_rank=exact_rank, cubic=cubic, **kw
    ),
    "prescribed-source": lambda exact_rank=8, source=1e-2, **kw: PrescribedSingularValues(
        form="ode", exact_rank=exact_rank, source=source, **kw
    ),
    "heat": HeatEquation,
    "heat-source": lambda source=1.0, **kw: HeatEquation(source=source, **kw),
    "schrodinger": lambda **kw: Schrodinger(boundary="dirichlet", **kw),
    "schrodinger-periodic": lambda **kw: Schrodinger(boundary="periodic", **kw),
    "symmetric": SymmetricRiccati,
    "tucker-rotating": lambda **kw: TuckerRotating(form="explicit", **kw),
    "tucker-rotating-ode": lambda **kw: TuckerRotating(form="ode", **kw),
    "tucker-schrodinger": TuckerSchrodinger,
}


def make(name: str, **params: Any) -> MatrixProblem:
    """Build the problem ``name`` (a key of :data:`PROBLEMS`); ``full=True``: the papers' sizes."""
    try:
        factory = PROBLEMS[name]
    except KeyError:
        raise ValueError(f"unknown problem {name!r}; known: {', '.join(PROBLEMS)}") from None
    return factory(**params)
