"""The ``padocc`` and ``shepard`` commands installed with the Python package:
the same command line as the padocc-rs binary (``padocc --help``), run
in-process through the compiled module."""

from __future__ import annotations

import sys
from typing import Optional, Sequence


def _run(args: list, exit_after: bool) -> int:
    from padocc import _native
    code = int(_native._ext().cli_main(args))
    if exit_after:
        sys.stdout.flush()
        sys.exit(code)
    return code


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the padocc command line with ``argv`` (default: ``sys.argv[1:]``)
    and return its exit code; as a console script, exit with it."""
    return _run(['padocc', *(sys.argv[1:] if argv is None else argv)], argv is None)


def shepard_main(argv: Optional[Sequence[str]] = None) -> int:
    """padocc 1.5.1's ``shepard <mode> --conf conf.yaml ...`` (crontab lines
    keep working): ``padocc shepard <mode> ...``."""
    return _run(['padocc', 'shepard', *(sys.argv[1:] if argv is None else argv)], argv is None)


if __name__ == '__main__':
    main()
