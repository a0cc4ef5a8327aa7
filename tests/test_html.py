"""The HTML report: self-contained, escaped, and readable in a real browser (headless Chromium).

Screenshots of the reports land in test-artifacts/html/ (a CI artifact).
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import lxml.html
import pytest

from sipdiag_post import render
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


def _chromium(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on a local file; its own profile folder, no network of ours involved."""
    return subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--no-first-run",
                           *args, page.as_uri()], capture_output=True, text=True, timeout=120, check=False)


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


def test_the_page_loads_nothing_and_allows_only_its_own_style_and_script():
    page = render.report_html([_hostile_report()[0]])
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
