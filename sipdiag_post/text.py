"""Capture text made safe for people and for XML: the bottom layer every reader and renderer shares.

Capture text (Call-IDs, headers, reason phrases, SDP) and file names are
attacker-controlled. The character classes that can do harm are defined here,
once, and every format neutralises them through the functions below:

- CONTROL: C0 controls, DEL and C1 controls. ESC starts terminal escape
  sequences (OSC 52 writes the clipboard, OSC 8 makes links); U+009B is a
  one-byte CSI to some terminals; NEL (U+0085) breaks lines.
- LINE_BREAKS: what ends a line somewhere (LF, CR, VT, FF, NEL, U+2028
  LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR): in a one-line error or a
  table cell it forges the next line.
- BIDI: the bidirectional overrides, embeddings, isolates and marks, which
  make text display in another order than it reads (a Call-ID that shows
  one thing and is another).
- INVISIBLE: zero-width and other invisible characters (U+200B-U+200D,
  U+2060-U+2064, U+FEFF, the soft hyphen, Hangul fillers, the tag
  characters U+E0000-U+E007F), which hide text or make two names look equal.

For people (terminal, table, ladder, Markdown, CSV, HTML) each such character
becomes visible as its escape, `\\x1b` or `\\u202e`, on one line (display_text).
JSON escapes them losslessly as `\\uXXXX` (json_text); XML (JUnit, PDML) gets
what XML 1.0 allows (xml_text), C1 controls replaced too.

Call-IDs come from the tap escaped reversibly (docs/pdml-schema.md): a byte
that cannot stand in XML as it is appears as `\\xNN`, a backslash as `\\\\`;
id_bytes turns such text back into the bytes that were on the wire.

Nothing here imports anything of sipdiag's.
"""

from __future__ import annotations

import re

_C0 = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
_C1 = "\x80-\x9f"
_LINE_BREAKS = "\n\r\x0b\x0c\x85\u2028\u2029"
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVISIBLE = ("\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200d\u2060-\u2064\u206a-\u206f\u3164"
              "\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e007f")

CONTROL = re.compile(f"[{_C0}{_C1}]")
LINE_BREAKS = re.compile(f"[{_LINE_BREAKS}]")
BIDI = re.compile(f"[{_BIDI}]")
INVISIBLE = re.compile(f"[{_INVISIBLE}]")
# everything a person must see rather than have it act: the union of the classes above, and TAB
HARMFUL = re.compile(f"[\t{_C0}{_C1}{_LINE_BREAKS}{_BIDI}{_INVISIBLE}]")
# what JSON leaves raw although it can do harm where the JSON is shown (its own escapes cover C0)
_JSON_RAW = re.compile(f"[\x7f{_C1}\u2028\u2029{_BIDI}{_INVISIBLE}]")
# characters XML 1.0 does not allow, and C1 controls (allowed, but terminal escapes to some readers)
_NOT_XML = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f{_C1}\ud800-\udfff\ufffe\uffff]")
_ID_ESCAPE = re.compile(r"\\(\\|x[0-9a-fA-F]{2})")


def _visible(match: re.Match[str]) -> str:
    code = ord(match[0])
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def display_text(text: str) -> str:
    """Text for people: one line, each control, line break, bidi or invisible character shown as its escape
    (`\\x1b`, `\\n` as `\\x0a`, `\\u202e`), TAB as a space. Nothing in it can act on a terminal or a page."""
    if not HARMFUL.search(text):
        return text
    return HARMFUL.sub(_visible, text.replace("\t", " "))


safe_text = display_text  # the name the renderers have always used


def json_text(encoded: str) -> str:
    """Serialised JSON with the characters its encoder leaves raw (DEL, C1, U+2028/9, bidi, invisible) as
    `\\uXXXX` escapes: the same strings once parsed. Such characters can only be inside strings."""
    def escape(match: re.Match[str]) -> str:
        code = ord(match[0])
        if code <= 0xFFFF:
            return f"\\u{code:04x}"
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    if encoded.isascii() and "\x7f" not in encoded:  # the one ASCII character among them: no scan (big reports)
        return encoded
    return _JSON_RAW.sub(escape, encoded)


def xml_text(text: str) -> str:
    """Text made storable in XML 1.0 (and harmless to a terminal showing it): characters XML forbids, and
    C1 controls, become U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def id_bytes(text: str) -> bytes:
    """The bytes of an identifier the tap escaped (`\\xNN` a byte, `\\\\` a backslash, the rest UTF-8)."""
    out = bytearray()
    at = 0
    for match in _ID_ESCAPE.finditer(text):
        out += text[at:match.start()].encode("utf-8", "surrogateescape")
        token = match[1]
        out += b"\\" if token == "\\" else bytes([int(token[1:], 16)])
        at = match.end()
    out += text[at:].encode("utf-8", "surrogateescape")
    return bytes(out)


def bounded(text: str, limit: int) -> str:
    """Text cut at limit characters, saying how much was cut (as the tap does for bytes)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[+{len(text) - limit} characters]"
