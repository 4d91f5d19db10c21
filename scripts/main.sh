#!/usr/bin/env bash
# The main command: sets up .venv on a fresh machine (scripts/setup.sh), runs the quickstart
# example (error and rank history of a matrix ODE) and then `dlra validate` (the quick validation
# suite: table on stdout, Markdown + PNG report in validation-report/, non-zero exit on failure).
# Extra arguments go to `dlra validate` (e.g. --full, --backend torch, --methods bug,ksl).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/setup.sh"
cd "$root"
python examples/quickstart.py
dlra validate "$@"
