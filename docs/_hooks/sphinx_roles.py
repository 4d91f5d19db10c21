"""mkdocs hook: render the Sphinx cross-reference roles of the docstrings as inline code.

The package's docstrings use ``:class:`~dlra.DataField``` and friends (readable in ``help()`` and
in IDEs).  mkdocstrings renders them literally as ``:class:`` followed by a code span; this hook
turns that into the code span alone, showing the last component for ``~``-prefixed targets as
Sphinx does.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):<code>(~?)([^<]*)</code>")


def _replace(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub(_replace, html)
