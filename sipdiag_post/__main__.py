"""`sipdiag` and `python -m sipdiag_post`: Ctrl-C is answered in one line even while importing."""

from __future__ import annotations

import sys


def run() -> None:
    try:
        from .cli import main
    except KeyboardInterrupt:
        sys.stderr.write("sipdiag: interrupted\n")
        sys.exit(130)
    main()


if __name__ == "__main__":
    run()
