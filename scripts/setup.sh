#!/usr/bin/env bash
# One-time set-up, idempotent: a virtual environment in .venv with dlra and everything the tests,
# the validation command and the docs need. Sourced by scripts/test.sh and scripts/main.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${DLRA_VENV:-$root/.venv}"
stamp="$venv/.dlra-installed"
python_ok() {  # the interpreter $1 runs and is Python >= 3.10
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null
}
if ! python_ok "$venv/bin/python"; then
    if ! python_ok python3; then
        echo "dlra needs Python >= 3.10; python3 is $(python3 --version 2>&1 || echo missing)." >&2
        echo "Put a newer python3 first on PATH and run this again." >&2
        exit 1
    fi
    if [ -e "$venv" ]; then
        echo "Rebuilding $venv (its Python is missing, broken or older than 3.10)." >&2
    fi
    python3 -m venv --clear "$venv"  # --clear: nothing of a broken venv (or its stamp) stays
fi
py="$venv/bin/python"
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
    "$py" -m pip install -q --upgrade pip
    # torch, when the venv has none: the pin is a CPU build already on disk on the project's
    # machines (any other request there pulls a multi-GB CUDA build). Elsewhere pip resolves the
    # pin from its index: install the torch build you want into the venv first and it is kept
    # (README, "Two commands").
    if ! "$py" -c "import torch" 2>/dev/null; then
        "$py" -m pip install -q "torch==2.13.0"
    fi
    "$py" -m pip install -q -e "$root[test,bridge,docs]"
    touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
