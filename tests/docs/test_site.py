"""The documentation site builds in strict mode (every warning is an error) and has its key pages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest

from ._jupyter import jupyter_env

for _module in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter"):
    pytest.importorskip(_module)

ROOT = Path(__file__).resolve().parents[2]
INTEGRATOR_PAGES = (
    "ksl",
    "strang",
    "bug",
    "augmented_bug",
    "adaptive_bug",
    "parallel_bug",
    "midpoint_bug",
    "parallel_bug2",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    # the build executes the notebooks (mkdocs.yml: DLRA_DOCS_EXECUTE, default true) with a
    # kernel of this interpreter
    env = {**os.environ, **jupyter_env(tmp_path_factory.mktemp("jupyter"))}
    env.update(NO_MKDOCS_2_WARNING="1", DLRA_DOCS_EXECUTE="true")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-6000:]}"
    return out


def plain_text(html: str) -> str:
    """The text of a page without tags (code highlighting splits tokens into spans)."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def page(site: Path, path: str) -> str:
    html = site / path / "index.html" if path else site / "index.html"
    assert html.is_file(), f"missing page {html.relative_to(site)}"
    return html.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "path",
    [
        "",
        "choosing",
        "fields",
        "conventions",
        "tucker",
        "torch_bridge",
        "benchmarks",
        "validation",
        "api",
        "integrators",
    ],
)
def test_key_pages_exist(site: Path, path: str) -> None:
    assert "<article" in page(site, path)


@pytest.mark.parametrize("name", INTEGRATOR_PAGES)
def test_integrator_page(site: Path, name: str) -> None:
    import dlra

    html = page(site, f"integrators/{name}")
    for section in ("algorithm", "order-and-properties", "cost-per-step", "example", "reference"):
        assert f'id="{section}"' in html, (name, section)
    text = plain_text(html)
    assert f'method="{name}"' in text, name  # the example uses this method
    order = dlra.INTEGRATORS[name].order
    assert re.search(rf"\border\s+{order}\b", text), (name, order)  # the table states the order


def test_api_reference_is_rendered_from_docstrings(site: Path) -> None:
    solve = page(site, "api/solve")
    assert "save_at" in solve and "Solution" in solve  # parameters of dlra.solve, the result type
    fields = page(site, "api/fields")
    for name in ("DataField", "LinearField", "right", "left", "galerkin"):
        assert name in fields
    integrators = page(site, "api/integrators")
    for cls in (
        "KSL",
        "Strang",
        "BUG",
        "AugmentedBUG",
        "AdaptiveBUG",
        "ParallelBUG",
        "MidpointBUG",
    ):
        assert f'id="dlra.integrators.{cls}"' in integrators, cls
    assert "TuckerTensor" in page(site, "api/tucker")
    assert "LowRankLinear" in page(site, "api/torch_bridge")


@pytest.mark.parametrize(
    "name", ["convergence_orders", "tucker_integrators", "schrodinger_adaptivity"]
)
def test_notebooks_are_pages(site: Path, name: str) -> None:
    html = page(site, f"notebooks/{name}")
    assert "dlra.solve" in plain_text(html)  # the code cells are rendered
    assert "data:image/png;base64" in html  # executed during the build: figures are shown
    assert (site / "notebooks" / name / f"{name}.ipynb").is_file()  # and downloadable
