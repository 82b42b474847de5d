"""The ``padocc`` command installed with the Python package: the same
command line as the padocc-rs binary (``padocc --help``), run in-process
through the compiled module."""

from __future__ import annotations

import sys
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the padocc command line with ``argv`` (default: ``sys.argv[1:]``)
    and return its exit code; as a console script, exit with it."""
    from padocc import _native
    args = ['padocc', *(sys.argv[1:] if argv is None else argv)]
    code = int(_native._ext().cli_main(args))
    if argv is None:
        sys.stdout.flush()
        sys.exit(code)
    return code


if __name__ == '__main__':
    main()
