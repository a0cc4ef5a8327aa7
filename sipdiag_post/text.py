"""Capture text made safe for people and for XML: the bottom layer every reader and renderer shares.

Capture text (Call-IDs, headers, reason phrases, SDP) is attacker-controlled.
Nothing here imports anything of sipdiag's.
"""

from __future__ import annotations

import re

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# characters XML 1.0 does not allow (besides what CONTROL already covers)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def safe_text(text: str) -> str:
    """Capture text made safe for a terminal or log: control characters (ESC included) become '?'."""
    return CONTROL.sub("?", text).replace("\t", " ")


def xml_text(text: str) -> str:
    """Text made storable in XML 1.0: characters it forbids become U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)
