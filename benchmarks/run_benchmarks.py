"""Measure every integrator and write ``docs/benchmarks.md`` (tables, plots, goals of issue 6).

Usage::

    python benchmarks/run_benchmarks.py                 # full run, ~15 min on 2 cores
    python benchmarks/run_benchmarks.py --quick --out /tmp/b.md --img /tmp/img   # smoke run
    python benchmarks/run_benchmarks.py --from-json docs/img/benchmarks/results.json  # re-render

The records of the run are written next to the plots (``results.json``), so the page can be
re-rendered without measuring again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import fields
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.report import write_report
from benchmarks.suite import Campaign, Plan, environment, run_all

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--img", default=os.path.join(ROOT, "docs", "img", "benchmarks"))
    ap.add_argument("--quick", action="store_true", help="tiny sizes (seconds): smoke test")
    ap.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="BLAS and torch threads (default: all cores)",
    )
    ap.add_argument("--methods", default=None, help="comma-separated subset of the methods")
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--skip-tucker", action="store_true")
    ap.add_argument(
        "--dense-max",
        type=int,
        default=None,
        help="largest n of the measured dense RK4 steps (default 8192; larger is extrapolated)",
    )
    ap.add_argument("--from-json", default=None, help="re-render the page from saved records")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    os.makedirs(args.img, exist_ok=True)
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as fh:
            saved = json.load(fh)
        plan = Plan(**saved["plan"])
        write_report(
            saved["records"], saved["env"], saved["orthonormality"], args.out, args.img, plan
        )
        return saved

    from threadpoolctl import threadpool_limits

    plan = Plan.quick() if args.quick else Plan()
    if args.dense_max is not None:
        dense = sorted({*(n for n in plan.dense_n if n <= args.dense_max), args.dense_max})
        plan.dense_n = tuple(dense)
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:  # pragma: no cover
        pass
    env = environment(args.threads)
    campaign = Campaign(plan, log=lambda msg: print(msg, flush=True))
    if args.methods:
        campaign.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    start = time.perf_counter()
    with threadpool_limits(args.threads):
        run_all(campaign, torch=not args.skip_torch, tucker=not args.skip_tucker)
    env["duration_s"] = time.perf_counter() - start
    env["load_after"] = os.getloadavg()[0]
    saved = {
        "env": env,
        "plan": {f.name: _plain(getattr(plan, f.name)) for f in fields(plan)},
        "records": campaign.records,
        "orthonormality": campaign.orthonormality,
    }
    with open(os.path.join(args.img, "results.json"), "w", encoding="utf-8") as fh:
        json.dump(saved, fh, indent=1, default=float)
    write_report(campaign.records, env, campaign.orthonormality, args.out, args.img, plan)
    print(f"wrote {args.out} ({env['duration_s'] / 60:.1f} min)")
    return saved


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


if __name__ == "__main__":
    main()
