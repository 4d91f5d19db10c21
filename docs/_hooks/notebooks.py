"""mkdocs hook: publish ``validation/notebooks/*.ipynb`` as pages ``notebooks/<name>/``.

The notebooks live next to the validation suite (where the tests execute them), not under
``docs/``; this hook adds them to the site's files before mkdocs-jupyter converts them, so
``nav`` can list them as ``notebooks/<name>.ipynb``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

#: the folder ``validation/`` (holding ``notebooks/``) of this repository
VALIDATION = Path(__file__).resolve().parents[2] / "validation"


@event_priority(100)  # run before mkdocs-jupyter wraps the notebook files (priority 0)
def on_files(files: Files, config: Any) -> Files:
    for path in sorted((VALIDATION / "notebooks").glob("*.ipynb")):
        files.append(
            File(
                f"notebooks/{path.name}",
                str(VALIDATION),
                config["site_dir"],
                config["use_directory_urls"],
            )
        )
    return files
