"""The report: a plain-text table for the terminal and a Markdown file with the figures."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import platform
from collections.abc import Sequence
from pathlib import Path

from .studies._framework import Config, Row, StudyResult

__all__ = ["machine_summary", "markdown_table", "text_table", "write_json", "write_markdown"]

_COLUMNS = ("study", "method", "problem", "measured", "expected", "result")


def _cells(row: Row) -> tuple[str, ...]:
    return (row.study, row.method, row.problem, row.measured, row.expected, row.status)


def text_table(results: Sequence[StudyResult], *, width: int = 46) -> str:
    """All rows as an aligned text table (long cells shortened to ``width`` characters)."""
    rows = [tuple(_clip(c, width) for c in _cells(r)) for res in results for r in res.rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(_COLUMNS)]
    line = "  ".join(h.ljust(w) for h, w in zip(_COLUMNS, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def machine_summary() -> str:
    """Date, machine and library versions, for the report header."""
    import numpy
    import scipy

    parts = [
        f"date {_dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"machine {platform.machine()} {platform.processor() or ''}".strip(),
        f"{_cpu_count()} CPU cores",
        f"{platform.system()} {platform.release()}",
        f"Python {platform.python_version()}",
        f"numpy {numpy.__version__}",
        f"scipy {scipy.__version__}",
    ]
    try:
        import torch

        parts.append(f"torch {torch.__version__}")
    except ImportError:  # pragma: no cover - torch is optional
        pass
    return ", ".join(parts)


def _cpu_count() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _md_escape(text: str) -> str:
    """Table-cell text: pipes and brackets escaped (``[norm]`` is not a link), one line."""
    for ch in "\\|[]":
        text = text.replace(ch, "\\" + ch)
    return text.replace("\n", " ")


def _md_table(rows: Sequence[Row], *, with_notes: bool) -> list[str]:
    head = list(_COLUMNS) + (["details"] if with_notes else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = list(_cells(r))
        cells[-1] = {"pass": "✅ pass", "FAIL": "❌ **FAIL**", "info": "ℹ️ info"}[r.status]
        if with_notes:
            cells.append(r.note)
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    return lines


def markdown_table(results: Sequence[StudyResult], *, with_notes: bool = False) -> str:
    """All rows as one Markdown table (for the documentation)."""
    return "\n".join(_md_table([r for res in results for r in res.rows], with_notes=with_notes))


def write_json(results: Sequence[StudyResult], cfg: Config, *, seconds: float) -> Path:
    """Write ``<out>/results.json``: machine, configuration and every row (for comparisons)."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    data = {
        "machine": machine_summary(),
        "config": {
            "backend": cfg.backend,
            "device": cfg.device,
            "size": cfg.size,
            "methods": list(cfg.methods) if cfg.methods else None,
        },
        "seconds": seconds,
        "studies": [
            {
                "name": res.name,
                "title": res.title,
                "seconds": res.seconds,
                "rows": [dataclasses.asdict(r) for r in res.rows],
                "figures": [dataclasses.asdict(f) for f in res.figures],
            }
            for res in results
        ],
    }
    path = cfg.out / "results.json"
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def write_markdown(
    results: Sequence[StudyResult], cfg: Config, *, seconds: float, command: str = ""
) -> Path:
    """Write ``<out>/report.md`` (the figures are already under ``<out>/figures``)."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    rows = [r for res in results for r in res.rows]
    n_fail = sum(r.passed is False for r in rows)
    n_pass = sum(r.passed is True for r in rows)
    n_info = sum(r.passed is None for r in rows)
    verdict = "PASSED" if n_fail == 0 else "FAILED"
    lines = [
        "# dlra validation report",
        "",
        f"**{verdict}**: {n_pass} expectations met, {n_fail} failed, {n_info} informational rows.",
        "",
        f"- {machine_summary()}",
        f"- backend {cfg.backend}, device {cfg.device or 'cpu'}, size {cfg.size}, "
        f"methods {', '.join(cfg.methods) if cfg.methods else 'all'}",
        f"- wall time {seconds:.1f} s" + (f"; command `{command}`" if command else ""),
        "",
        "How to read this report: `docs/validation.md`.",
        "",
        "## Summary",
        "",
        "| study | rows | failed | time (s) |",
        "|---|---|---|---|",
    ]
    for res in results:
        failed = sum(r.passed is False for r in res.rows)
        lines.append(
            f"| [{res.title}](#{res.name}) | {len(res.rows)} | {failed} | {res.seconds:.1f} |"
        )
    for res in results:
        lines += ["", f'<a id="{res.name}"></a>', "", f"## {res.title}", ""]
        lines += [res.description, ""]
        lines += _md_table(res.rows, with_notes=True)
        for fig in res.figures:
            lines += ["", f"![{_md_escape(fig.caption)}]({fig.path})", "", f"*{fig.caption}*"]
    path = cfg.out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
