"""Every ``python`` code block of the user-guide and integrator pages runs (the blocks of one
page share a namespace, in order) — and the ``assert`` lines in them check what the text claims."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = [
    "../README.md",
    "index.md",
    "api/integrators.md",
    "choosing.md",
    "fields.md",
    "conventions.md",
    *(f"integrators/{p.name}" for p in sorted((DOCS / "integrators").glob("*.md"))),
]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks(page: str) -> list[str]:
    return BLOCK.findall((DOCS / page).read_text(encoding="utf-8"))


def test_every_integrator_has_a_page_with_an_example() -> None:
    import dlra

    for name in dlra.INTEGRATORS:
        page = f"integrators/{name}.md"
        assert page in PAGES, name
        assert any(f'method="{name}"' in b for b in blocks(page)), name


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)])
def test_examples_run(page: str) -> None:
    code = blocks(page)
    namespace: dict[str, object] = {"__name__": f"docs_{Path(page).stem}"}
    for i, source in enumerate(code):
        exec(compile(source, f"{page}[block {i}]", "exec"), namespace)


def test_torch_bridge_examples_run() -> None:
    """The torch_bridge page: its quickstart and checkpoint blocks run in one namespace; the
    DistributedDataParallel block needs a process group (tests/torch_bridge/test_distributed.py
    runs wrap_ddp on two processes)."""
    pytest.importorskip("torch")
    code = blocks("torch_bridge.md")
    assert any("wrap_ddp" in source for source in code)
    namespace: dict[str, object] = {"__name__": "docs_torch_bridge"}
    ran = 0
    for i, source in enumerate(code):
        if "wrap_ddp" in source:
            continue
        exec(compile(source, f"torch_bridge.md[block {i}]", "exec"), namespace)
        ran += 1
    assert ran >= 2
    import torch_bridge as tb

    ranks = tb.ranks(namespace["model"])  # what the quickstart prints
    assert set(ranks) == {"0", "2"} and all(1 <= r <= 32 for r in ranks.values())
