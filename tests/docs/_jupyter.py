"""Jupyter set-up shared by the notebook and site tests: kernels that run *this* interpreter."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

#: kernel names written: the notebooks' own ``python3`` (used by mkdocs-jupyter) and a
#: private name for nbclient
KERNELS = ("python3", "dlra-tests")


def jupyter_env(home: Path) -> dict[str, str]:
    """Environment variables under which Jupyter finds kernelspecs for ``sys.executable``.

    Kernelspecs in ``JUPYTER_PATH`` take precedence over user and system ones, so a ``python3``
    kernel registered elsewhere (pointing to another interpreter) is not used, and nothing
    needs to be registered on a fresh machine.  BLAS runs on one thread in the kernels: the
    matrices are small and an oversubscribed BLAS is much slower on a busy machine.
    """
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    for name in KERNELS:
        spec = home / "data" / "kernels" / name
        spec.mkdir(parents=True, exist_ok=True)
        spec.joinpath("kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": f"dlra tests ({name})", "language": "python"})
        )
    env = {
        "JUPYTER_PATH": os.pathsep.join([str(home / "data"), os.environ.get("JUPYTER_PATH", "")]),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
    }
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    return env
