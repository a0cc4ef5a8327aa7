"""Shared test set-up: the repository root on sys.path for `tests.builders` and `fixtures`."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "fixtures"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
