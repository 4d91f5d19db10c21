#!/usr/bin/env bash
# The test command: sets up .venv on a fresh machine (scripts/setup.sh), then runs ruff and pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/setup.sh"
cd "$root"
ruff check .
ruff format --check .
python -m pytest "$@"
