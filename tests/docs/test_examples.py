"""Every ``python`` code block of the user-guide and integrator pages runs (the blocks of one
page share a namespace, in order) — and the ``assert`` lines in them check what the text claims."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = [
    "index.md",
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
