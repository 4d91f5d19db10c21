"""The code in docs/tucker.md runs and its assertions hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import dlra

DOC = Path(__file__).resolve().parents[2] / "docs" / "tucker.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_docs_code_blocks_run(capsys):
    blocks = _blocks()
    assert len(blocks) >= 3
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, str(DOC), "exec"), namespace)
    sol = namespace["sol"]
    assert sol.success
    assert sol.ranks[-1] != (1, 1, 1)
    assert "(" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(dlra.registry("tucker")))
def test_every_method_is_documented(name):
    assert f"`{name}`" in DOC.read_text(encoding="utf-8")
