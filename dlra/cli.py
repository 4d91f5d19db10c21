"""The ``dlra`` console script.

``dlra validate [options]`` runs the validation suite (``validation.cli``): it checks every
integrator against the theory, prints a table, writes a Markdown report with figures and exits
non-zero when an expectation fails.  ``dlra validate --help`` lists the options.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

_USAGE = """usage: dlra <command> [options]

commands:
  validate    check every integrator against the theory and write a report
              (dlra validate --help for the options)
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_USAGE, end="")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "validate":
        try:
            from validation.cli import main as validate
        except ImportError as exc:  # pragma: no cover - validation ships with the package
            print(
                f"dlra validate: the validation package is not importable ({exc})", file=sys.stderr
            )
            return 2
        return validate(rest)
    print(f"dlra: unknown command {command!r}\n\n{_USAGE}", end="", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
