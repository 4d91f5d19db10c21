#!/usr/bin/env bash
# One-time set-up, idempotent: a virtual environment in .venv with dlra and everything the tests,
# the validation command and the docs need. Sourced by scripts/test.sh and scripts/validate.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${DLRA_VENV:-$root/.venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
py="$venv/bin/python"
stamp="$venv/.dlra-installed"
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
    "$py" -m pip install -q --upgrade pip
    # torch: the CPU wheel pinned here is available offline on our machines; any other request
    # would pull a multi-GB CUDA build. Users elsewhere install their own through the `torch` extra.
    if ! "$py" -c "import torch" 2>/dev/null; then
        "$py" -m pip install -q "torch==2.13.0"
    fi
    "$py" -m pip install -q -e "$root[test,bridge,docs]"
    touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
