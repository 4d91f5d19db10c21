"""``dlra validate``: run the validation studies, print the table, write the report.

Exit status 0 when every expectation holds, 1 when any fails, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import expectations as ex

__all__ = ["blas_threads", "build_parser", "main"]


def build_parser(prog: str = "dlra validate") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Check every integrator against the theory (order, exactness, robustness, truncation, "
            "conservation, rank adaptivity, symmetry, published figures); print the table, write "
            "a Markdown report with figures, exit non-zero if an expectation fails."
        ),
    )
    p.add_argument("--methods", help="comma-separated integrators (default: all)")
    p.add_argument("--studies", help="comma-separated studies (default: all; see --list)")
    p.add_argument("--backend", choices=("numpy", "torch"), default="numpy")
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda")
    p.add_argument("--full", action="store_true", help="the papers' sizes (slow)")
    p.add_argument(
        "--size", choices=("tiny", "quick", "full"), default=None, help=argparse.SUPPRESS
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("validation-report"),
        help="report folder (default: validation-report/)",
    )
    p.add_argument("--list", action="store_true", help="list studies and methods, then exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads (default 1: the matrices are small; 0 = library default)",
    )
    return p


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Limit BLAS/OpenMP threads to ``n`` (0: leave the library default) while running."""
    if n <= 0:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        yield
        return
    with threadpool_limits(limits=n):
        yield


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [s.strip() for s in text.split(",") if s.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    from .studies import STUDIES
    from .studies._framework import Config

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print("studies:")
        for name, cls in STUDIES.items():
            print(f"  {name:14s} {cls.title}")
        print("methods:")
        print("  " + ", ".join(ex.MATRIX_METHODS))
        return 0

    studies = _split(args.studies) or list(STUDIES)
    unknown = [s for s in studies if s not in STUDIES]
    if unknown:
        parser.error(f"unknown studies {unknown}; known: {', '.join(STUDIES)}")
    methods = _split(args.methods)
    if methods is not None:
        bad = [m for m in methods if m not in ex.MATRIX_METHODS]
        if bad:
            parser.error(f"unknown methods {bad}; known: {', '.join(ex.MATRIX_METHODS)}")
    if args.device is not None and args.backend != "torch":
        parser.error("--device needs --backend torch")
    if args.backend == "torch":
        try:
            import torch
        except ImportError:
            parser.error("--backend torch needs torch installed (pip install dlra[torch])")
        if args.device and args.device.startswith("cuda") and not torch.cuda.is_available():
            parser.error("--device cuda requested but torch.cuda.is_available() is False")
    size = args.size or ("full" if args.full else "quick")
    cfg = Config(
        methods=tuple(methods) if methods else None,
        backend=args.backend,
        device=args.device,
        size=size,
        out=args.out,
    )

    from .report import text_table, write_json, write_markdown
    from .runner import run

    start = time.perf_counter()
    with blas_threads(args.threads):
        results = run([STUDIES[s]() for s in studies], cfg, progress=not args.no_progress)
    seconds = time.perf_counter() - start
    command = "dlra validate " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    path = write_markdown(results, cfg, seconds=seconds, command=command.strip())
    write_json(results, cfg, seconds=seconds)
    print(text_table(results))
    rows = [r for res in results for r in res.rows]
    failed = [r for r in rows if r.passed is False]
    print()
    print(f"{len(rows)} rows, {len(failed)} failed, {seconds:.1f} s; report: {path}")
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
