"""`sipdiag` and `python -m sipdiag_post`: Ctrl-C is answered in one line even while importing."""

from __future__ import annotations

import sys

# commands that run tshark: its `tshark -v` is begun before the rest of sipdiag loads
_TSHARK_COMMANDS = ("analyze", "export", "ladder", "streams", "watch")


def run() -> None:
    try:
        if len(sys.argv) > 1 and sys.argv[1] in _TSHARK_COMMANDS and not any(
                arg == "--tshark" or arg.startswith("--tshark=") for arg in sys.argv):
            from .tshark import start_version_probe
            start_version_probe()
        from .cli import main
    except KeyboardInterrupt:
        sys.stderr.write("sipdiag: interrupted\n")
        sys.exit(130)
    main()


if __name__ == "__main__":
    run()
