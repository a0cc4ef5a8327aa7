"""sipdiag's post-processor: reads the Lua tap's PDML, runs the rules, renders the checklist."""

from __future__ import annotations

import functools


@functools.cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sipdiag")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0.0.0"


def __getattr__(name: str) -> str:
    """__version__, read from the installed package's metadata when first asked for (importing
    importlib.metadata is a noticeable part of sipdiag's start-up, before tshark can start)."""
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
