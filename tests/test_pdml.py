"""The PDML reader: the schema contract, and refusal of hostile XML."""

from __future__ import annotations

import pytest

from sipdiag_post import pdml

CAPTURE = b"""<packet><proto name="sipdiag.capture">
<field name="sipdiag.capture.packets" show="3"/><field name="sipdiag.capture.duration" show="1.5"/>
<field name="sipdiag.capture.sip_messages" show="1"/><field name="sipdiag.capture.calls" show="1"/>
</proto></packet>"""
CALL = b"""<packet><proto name="sipdiag.call"><field name="sipdiag.call.id" show="c1"/>
<field name="sipdiag.msg" show="INVITE sip:a@b SIP/2.0"><field name="sipdiag.msg.frame" show="1"/>
<field name="sipdiag.msg.kind" show="request"/><field name="sipdiag.msg.method" show="INVITE"/>
<field name="sipdiag.msg.src" show="::1"/><field name="sipdiag.msg.src_port" show="5070"/>
<field name="sipdiag.msg.future_field" show="ignored"/></field>
</proto><proto name="sipdiag.future">ignored</proto></packet>"""


def doc(body: bytes = CAPTURE + CALL, schema: str | None = "1.0", prolog: bytes = b"") -> bytes:
    attr = f' sipdiag_schema="{schema}"'.encode() if schema is not None else b""
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + prolog + b"<pdml" + attr + b">" + body + b"</pdml>"


def test_reads_capture_facts_and_calls():
    summary = pdml.parse_summary(doc())
    assert summary.facts.packets == 3 and summary.facts.duration == 1.5
    (call,) = summary.calls
    assert call.call_id == "c1"
    assert call.messages[0].method == "INVITE" and str(call.messages[0].src) == "[::1]:5070"


def test_a_newer_minor_version_with_unknown_fields_is_read():
    assert len(pdml.parse_summary(doc(schema="1.7")).calls) == 1


@pytest.mark.parametrize(("schema", "message"), [
    (None, "not a summary written by the sipdiag tap"),
    ("2.0", "PDML schema 2.0 is not supported"),
    ("one", "malformed sipdiag_schema"),
])
def test_schema_gate(schema, message):
    with pytest.raises(pdml.PdmlError, match=message):
        pdml.parse_summary(doc(schema=schema))


def test_billion_laughs_is_refused_without_expansion():
    prolog = b"""<!DOCTYPE pdml [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>"""
    body = CAPTURE.replace(b'show="3"', b'show="&lol9;"')
    with pytest.raises(pdml.PdmlError, match="DTDs and entity declarations are not allowed"):
        pdml.parse_summary(doc(body, prolog=prolog))


def test_external_entities_are_never_fetched(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    prolog = f'<!DOCTYPE pdml [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode()
    body = CALL.replace(b'show="c1"', b'show="&xxe;"')
    with pytest.raises(pdml.PdmlError) as caught:
        pdml.parse_summary(doc(CAPTURE + body, prolog=prolog))
    assert "TOPSECRET" not in str(caught.value)


@pytest.mark.parametrize(("data", "message"), [
    (b"<pdml", "not well-formed XML"),
    (b"", "not well-formed XML"),
    (b'<html sipdiag_schema="1.0"/>', "root element is <html>"),
    (doc(CAPTURE.replace(b'show="3"', b'show="three"')), "invalid sipdiag.capture record"),
    (doc(CALL), "no sipdiag.capture record"),
])
def test_broken_documents_give_one_line(data, message):
    with pytest.raises(pdml.PdmlError, match=message) as caught:
        pdml.parse_summary(data)
    assert "\n" not in str(caught.value)


def test_oversized_files_are_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "big.pdml"
    path.write_bytes(doc())
    monkeypatch.setattr(pdml, "MAX_PDML_BYTES", 100)
    with pytest.raises(pdml.PdmlError, match="larger than the 100 bytes allowed"):
        pdml.read_summary(path)


def test_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(pdml.PdmlError, match="cannot read"):
        pdml.read_summary(tmp_path / "absent.pdml")
