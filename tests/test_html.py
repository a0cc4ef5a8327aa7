"""The HTML report: self-contained, escaped, and readable in a real browser (headless Chromium).

Screenshots of the reports land in test-artifacts/html/ (a CI artifact).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import lxml.html
import pytest

from sipdiag_post import pdml, render
from sipdiag_post.engine import evaluate
from sipdiag_post.render.html import script_json
from sipdiag_post.report import CaptureReport
from sipdiag_post.rules.base import Settings
from tests.test_cli import sipdiag
from tests.test_formats import _hostile_report
from tests.test_hostile import HOSTILE_CALL_ID, _with_call_id

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "html"
CONSOLE = re.compile(r":CONSOLE[:(\]]")


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium (make test installs Debian's chromium)")


def _chromium(page: Path, tmp: Path, *args: str, fragment: str = "") -> subprocess.CompletedProcess[str]:
    """Headless Chromium on a local file (at #fragment); its own profile folder, no network of ours involved."""
    return subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--no-first-run",
                           *args, page.as_uri() + fragment], capture_output=True, text=True, timeout=120,
                          check=False)


def _report(tmp_path: Path, capture: Path) -> Path:
    page = tmp_path / "report.html"
    done = sipdiag("analyze", str(capture), "--format", "html", "-o", str(page))
    assert done.returncode in (0, 1), done.stderr
    return page


# what each screenshot must show: the failure, in the picture's own words
SHOTS = {
    "media-one-way-nat": ("one-way audio", ["callee \u2192 caller: no RTP at all after the answer",
                                            "one-way audio: RTP only from the caller"]),
    "media-gap": ("media gap", ["callee \u2192 caller: no RTP for 20.0 s",
                                "the callee sent no RTP for 20.0 s while the call was up"]),
    "486-busy-inbound": ("busy", ["486 Rejected", "LiveKit gave up waiting for an agent after ringing 0.3 s"]),
}


@pytest.mark.parametrize("name", sorted(SHOTS))
def test_reports_load_in_a_real_browser_and_show_the_failure(tmp_path, name):
    page = _report(tmp_path, ROOT / "fixtures" / name / "capture.pcap")
    dom = _chromium(page, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-500:]
    assert not CONSOLE.search(dom.stderr), [line for line in dom.stderr.splitlines() if CONSOLE.search(line)]
    assert 'data-ready="yes"' in dom.stdout  # the inline script ran: its hash is in the CSP
    assert 'id="ladder-1"' in dom.stdout and 'id="rtp-1"' in dom.stdout
    for text in SHOTS[name][1]:
        assert text in dom.stdout
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    done = _chromium(page, tmp_path, "--window-size=1500,1250", f"--screenshot={shot}")
    assert done.returncode == 0 and shot.stat().st_size > 20_000


def test_the_ladder_marks_the_failing_response_and_the_graph_plots_each_second(tmp_path):
    page = _report(tmp_path, ROOT / "fixtures" / "media-gap" / "capture.pcap").read_text()
    graph = lxml.html.fromstring(page).xpath("//*[@id='rtp-1']")[0]
    lines = graph.xpath(".//polyline")
    assert len(lines) == 2
    # one point per second of each stream (28 s), and the callee's is zero through its 20 s silence
    points = [[float(p.split(",")[1]) for p in line.get("points").split()] for line in lines]
    assert all(len(p) >= 28 for p in points)
    baseline = max(max(p) for p in points)  # y of a count of 0 (SVG y grows downwards)
    assert any(sum(1 for y in p if y == baseline) >= 19 for p in points)
    assert graph.xpath(".//rect[@class='gap']")
    busy = _report(tmp_path, ROOT / "fixtures" / "486-busy-inbound" / "capture.pcap").read_text()
    assert '<text class="bad-text"' in busy and "486 Rejected" in busy


def _fixture_report(name: str) -> CaptureReport:
    """A fixture's report from its committed PDML summary (no tshark)."""
    return evaluate(name, pdml.read_summary(ROOT / "fixtures" / name / "expected.pdml"), Settings())


def _big_report() -> list[CaptureReport]:
    """60 calls: 15 copies each of a healthy call (pass), a busy one (fail), one with a media gap (fail) and one
    whose RTP starts late (warn)."""
    reports = [_fixture_report(name) for name in ("healthy-call", "486-busy-inbound", "media-gap", "late-start")]
    assert [r.calls[0].verdict.status.value for r in reports] == ["pass", "fail", "fail", "warn"]
    return reports * 15


def _folded_sections(page: str) -> dict[str, str]:
    """The folded calls' sections, decoded as the page's script does: {"call-N": html}."""
    data = lxml.html.fromstring(page).xpath("//script[@id='folded-calls']")
    if not data:
        return {}
    sections: dict[str, str] = {}
    for deflated in json.loads(data[0].text)["chunks"]:
        chunk = json.loads(zlib.decompress(base64.b64decode(deflated)))
        sections.update((call, "".join(parts)) for call, *parts in zip(chunk["ids"], *chunk["parts"], strict=True))
    return sections


def test_a_small_report_shows_every_call_in_full():
    page = render.report_html([_fixture_report("healthy-call"), _fixture_report("486-busy-inbound")])
    assert 'id="ladder-1"' in page and 'id="ladder-2"' in page and 'id="rtp-1"' in page
    assert not lxml.html.fromstring(page).xpath("//*[contains(@class, 'folded')]") and not _folded_sections(page)


def test_a_big_report_keeps_failures_in_full_and_folds_the_rest():
    page = render.report_html(_big_report())
    doc = lxml.html.fromstring(page)
    rows = doc.xpath("//tr[@class='call-row']")
    assert len(rows) == 60  # the index (search and verdict filter) still has every call
    assert {row.get("data-rule") for row in rows} == {"pass", "SIP005", "RTP007", "RTP001"}
    for number, row in enumerate(rows, start=1):
        section = doc.get_element_by_id(f"call-{number}")
        if row.get("data-rule") in ("pass", "RTP001"):  # folded: an empty hidden placeholder, no picture drawn
            assert section.tag == "div" and section.get("hidden") is not None and len(section) == 0
            assert f'id="ladder-{number}"' not in page
        else:
            assert section.tag == "section" and section.xpath(f".//*[@id='ladder-{number}']")
            assert section.xpath(f".//*[@id='rtp-{number}']")
    sections = _folded_sections(page)
    assert sorted(sections, key=lambda k: int(k.split("-")[1])) == [f"call-{n}" for n in range(1, 61) if n % 4 < 2]
    assert 'id="ladder-5"' in sections["call-5"] and 'id="rtp-5"' in sections["call-5"]
    assert "RTP001" in sections["call-4"]  # a warning folds with its findings and checklist
    data = doc.get_element_by_id("folded-calls").text
    assert len(data) < 0.25 * sum(map(len, sections.values()))  # deflated: folding saves most of their size


def test_opening_a_folded_call_in_the_browser_draws_its_ladder(tmp_path):
    page = tmp_path / "big.html"
    page.write_text(render.report_html(_big_report()))
    # a link to #call-5 (the index's, or a URL) opens it; the virtual time lets the page inflate its data
    dom = _chromium(page, tmp_path, "--virtual-time-budget=10000", "--dump-dom", fragment="#call-5")
    assert dom.returncode == 0, dom.stderr[-500:]
    assert not CONSOLE.search(dom.stderr), [line for line in dom.stderr.splitlines() if CONSOLE.search(line)]
    assert 'data-opened="call-5"' in dom.stdout
    opened = lxml.html.fromstring(dom.stdout).get_element_by_id("call-5")
    assert opened.tag == "section" and opened.get("hidden") is None
    assert opened.xpath(".//*[@id='ladder-5']//line") and opened.xpath(".//*[@id='rtp-5']//polyline")
    assert "healthy-call-1@sipdiag.test" in opened.text_content()
    assert 'id="ladder-1"' not in dom.stdout and 'id="ladder-4"' not in dom.stdout  # the others stay folded


EVIL = '</script><script>alert(1)</script><!--<x a="&amp;">\\u003c/script>\x1b'


def test_hostile_text_in_a_folded_call_stays_data(tmp_path):
    reports = _big_report()
    healthy = reports[0]
    hostile = dataclasses.replace(healthy, calls=(dataclasses.replace(healthy.calls[0], call_id=EVIL, from_=EVIL),))
    text = render.report_html([hostile, *reports[1:]])
    assert text.count("</script>") == 2 and text.count("<script") == 2  # the data element and the page's script
    data = re.search(r'<script type="application/json" id="folded-calls">(.*?)</script>', text, re.S).group(1)
    assert not set(data) & set("<>&")
    section = _folded_sections(text)["call-1"]
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in section and "<script" not in section and "<x" not in section
    assert not set(script_json({"k": EVIL})) & set("<>&") and json.loads(script_json({"k": EVIL})) == {"k": EVIL}
    page = tmp_path / "hostile.html"
    page.write_text(text)
    dom = _chromium(page, tmp_path, "--virtual-time-budget=10000", "--dump-dom", fragment="#call-1")
    assert not CONSOLE.search(dom.stderr), [line for line in dom.stderr.splitlines() if CONSOLE.search(line)]
    assert 'data-opened="call-1"' in dom.stdout
    opened = lxml.html.fromstring(dom.stdout)
    assert len(opened.xpath("//script")) == 2 and not opened.xpath("//x")  # nothing made from the Call-ID
    assert "</script><script>alert(1)" in opened.get_element_by_id("call-1").text_content()  # shown as text


@pytest.mark.parametrize("size", ["small", "big"])
def test_the_page_loads_nothing_and_allows_only_its_own_style_and_script(size):
    if size == "small":
        page = render.report_html([_hostile_report()[0]])
    else:
        page = render.report_html(_big_report())
        sections = "".join(_folded_sections(page).values())
        assert sections and not re.search(r'\b(src|href)="(https?:)?//', sections)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src 'none'" in csp
    for tag in ("style", "script"):
        body = re.search(f"<{tag}>(.*?)</{tag}>", page, re.S).group(1)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert not re.search(r'\b(src|href)="(https?:)?//', page)
    assert "@import" not in page and "url(" not in page.replace("url(#arrow-", "")


def test_capture_text_is_escaped(tmp_path):
    page = render.report_html(list(_hostile_report()))
    assert "<script>alert" not in page and "\x1b" not in page and "\x00" not in page
    case = _with_call_id(tmp_path, HOSTILE_CALL_ID)
    html_page = _report(tmp_path, case)
    text = html_page.read_text()
    assert "</field></proto><x" not in text and "&lt;/field&gt;&lt;/proto&gt;&lt;x a=&quot;&amp;amp;&quot;&gt;" in text
    dom = _chromium(html_page, tmp_path, "--dump-dom")
    assert not CONSOLE.search(dom.stderr)
    assert "<x " not in dom.stdout  # no element made from the Call-ID
