"""pytest-benchmark suite of dlra (not part of the test suite: run ``pytest benchmarks
--benchmark-enable``).  The repository root is importable so that ``benchmarks.*`` resolves."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
