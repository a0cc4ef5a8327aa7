"""sipdiag's post-processor: reads the Lua tap's PDML, runs the rules, renders the checklist."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sipdiag")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"
