"""What a cluster worker has for sipdiag: run on every worker by `sipdiag doctor --cluster`.

The probe is sent to the workers by value (cloudpickle), not by name, so it
also runs on a worker where sipdiag is not installed and says so there: this
module imports nothing of sipdiag at its top, only inside the probe.
"""

from __future__ import annotations

import platform
import socket
import sys
from importlib.metadata import PackageNotFoundError, version


def _version_of(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def probe(client_version: str, tshark: str | None) -> dict[str, object]:
    """This process's sipdiag, tshark (with its Lua) and tap files, and what is missing for an analysis.

    Plain data only (it travels back to the client): host, python, sipdiag, tshark, tap, fsspec, problems."""
    facts: dict[str, object] = {"host": socket.gethostname(), "python": platform.python_version(),
                                "fsspec": _version_of("fsspec")}
    problems: list[str] = []
    try:
        import sipdiag_post
        from sipdiag_post.tshark import TsharkError, find_tshark, tap_files
    except ImportError as exc:
        facts["problems"] = [f"sipdiag is not installed for {sys.executable} ({exc})"]
        return facts
    facts["sipdiag"] = sipdiag_post.__version__
    if sipdiag_post.__version__ != client_version:
        problems.append(f"sipdiag {sipdiag_post.__version__} here, {client_version} on the client: "
                        "results could differ; install the same version")
    try:
        found = find_tshark(tshark)
        facts["tshark"] = f"{found.path} {found.version_text} (Lua {found.lua or 'version not shown'})"
    except TsharkError as exc:
        problems.append(f"tshark: {exc}")
    files = tap_files()
    missing = sorted(str(path) for path in files.values() if not path.is_file())
    facts["tap"] = f"{files['sipdiag.lua']} and {len(files) - 1} modules"
    if missing:
        problems.append(f"tap files missing: {', '.join(missing)}")
    facts["problems"] = problems
    return facts
