"""--format html: one self-contained page with the checklists, a ladder and an RTP graph per call.

Everything is inline (CSS, SVG, a few lines of JS); nothing is loaded from
anywhere, and a Content-Security-Policy with hashes of the inline style and
script forbids the page to load anything else. All capture text is
HTML-escaped after control characters are replaced, so a Call-ID or reason
phrase cannot add markup, script or terminal escapes.

Big reports fold. A report of at most HtmlOptions.full_up_to calls (50) shows
every call in full, as it always has. Above that, only the calls whose verdict
is fail are drawn in full; passing and warning calls are folded: each keeps its
row in the call index (so search by Call-ID, number, From/To and the verdict
filter still cover every call) and an empty, hidden placeholder, and its section
(the same HTML, from the same escaping code, as a full one) is kept as data. The
sections are JSON, deflated in chunks of _CHUNK calls and base64-encoded into
one <script type="application/json" id="folded-calls"> element, which is never
run and whose text cannot hold "<" at all (script_json escapes it regardless).
Opening a folded call (its link in the index, a link to it from another leg, or
a URL ending in #call-N) inflates its chunk in the browser (DecompressionStream;
Chromium 80, Firefox 113, Safari 16.4) and puts the section, ladder and RTP
graph included, in place of the placeholder. Warnings fold with the passes
because the cost is per call and a capture can warn on every call (one codec or
NAT setting); the fail badge is what a reader of a big report looks for first,
and a warning is one click away. On the 2,400-call bench capture (all passing)
this takes the page from 48 MB and 31 s in headless Chromium to about 3 MB and 2
s (bench/results.md, make bench-html).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from .. import __version__
from ..analysis import CallAnalysis
from ..analysis.media import CALLEE, CALLER
from ..model import RtpStream
from ..report import CallReport, CaptureReport
from ..text import display_text
from ..verdict import Check, Status
from .common import summarise, summary_line
from .ladder import Ladder, Step, build
from .streams import GAPS_SHOWN_MIN_S

_ORDER = (Status.FAIL, Status.WARN, Status.INFO)
_BADGE = {Status.FAIL: "FAIL", Status.WARN: "WARN", Status.INFO: "info", Status.PASS: "pass", Status.NA: "n/a"}
_DIRECTION_COLOUR = {CALLER: "#1f77b4", CALLEE: "#e8710a", None: "#777777"}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2327;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}h3{font-size:16px;margin:0}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
table{border-collapse:collapse;margin:8px 0}th,td{text-align:left;vertical-align:top;padding:4px 8px;
border-bottom:1px solid #e3e6e8}th{background:#f4f6f7;font-weight:600}
.badge{display:inline-block;min-width:38px;text-align:center;border-radius:4px;padding:1px 6px;font-weight:700;
font-size:12px;color:#fff}
.b-fail{background:#c62828}.b-warn{background:#e69500}.b-info{background:#1769aa}.b-pass{background:#2e7d32}
.b-na{background:#9e9e9e}.b-ok{background:#2e7d32}.b-truncated{background:#e69500}.b-error{background:#c62828}
.call{border:1px solid #d5dadd;border-radius:8px;padding:14px 18px;margin:18px 0}
.meta{color:#555;margin:4px 0 8px}.remedy{color:#1d4d2b}.evidence{margin:2px 0 0 0;padding-left:18px}
.muted{color:#777}.filter code{word-break:break-all}
.findings{list-style:none;padding:0;margin:6px 0 10px}.findings li{margin:3px 0}
.pictures{display:flex;flex-wrap:wrap;gap:8px 28px;align-items:flex-start}h4{margin:8px 0 0}
button.copy{font-size:11px;margin-left:6px;cursor:pointer}
details{margin:6px 0}summary{cursor:pointer;color:#444}
svg{display:block;margin:10px 0;max-width:100%;height:auto}
svg text{font-family:system-ui,sans-serif;font-size:12px;fill:#1d2327}
svg .time,svg .frame{font-size:11px;fill:#666}svg .note{font-size:11px;fill:#555}
svg .life{stroke:#b0b8bd;stroke-dasharray:4 4}svg .head{fill:#eef2f4;stroke:#90a0a8}
svg .msg{stroke:#37474f;stroke-width:1.5}svg .bad{stroke:#c62828;stroke-width:2.5}
svg .bad-text{fill:#c62828;font-weight:700}svg .retrans{stroke:#8d99a0;stroke-dasharray:5 3}
svg .rtp{stroke:#2e7d32;stroke-width:4;stroke-opacity:.6}svg .axis{stroke:#555}svg .grid{stroke:#e3e6e8}
svg .marker{stroke:#555;stroke-dasharray:3 3}svg .gap{fill:#c62828;fill-opacity:.13}
svg .missing{fill:#c62828;font-weight:700}svg .gap-short{fill:#c62828;fill-opacity:.55}
.streams td{font-variant-numeric:tabular-nums}.streams td.num{text-align:right}
.filters{margin:10px 0}.filters input{width:28em}.filters select,.filters input{font-size:13px;padding:2px 4px}
"""

_JS = """
document.body.setAttribute('data-ready', 'yes');
var folded = document.getElementById('folded-calls');
var chunks = folded ? JSON.parse(folded.textContent).chunks : [], inflated = {};
function inflate(k) {
  if (!inflated[k]) {
    var bytes = Uint8Array.from(atob(chunks[k]), function (c) { return c.charCodeAt(0); });
    var text = new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'))).text();
    inflated[k] = text.then(JSON.parse);
  }
  return inflated[k];
}
function openCall(id) {
  var place = document.getElementById(id);
  if (!place || !place.classList.contains('folded')) { return; }
  if (typeof DecompressionStream === 'undefined') {
    place.hidden = false;
    place.textContent = 'This browser cannot open folded calls (it has no DecompressionStream).';
    return;
  }
  inflate(Number(place.dataset.chunk)).then(function (chunk) {
    var still = document.getElementById(id), at = chunk.ids.indexOf(id);
    if (!still || !still.classList.contains('folded') || at < 0) { return; }
    var made = document.createElement('template');
    made.innerHTML = chunk.parts.map(function (part) { return part[at]; }).join('');
    still.replaceWith(made.content);
    document.getElementById(id).scrollIntoView();
    document.body.setAttribute('data-opened', id);
  });
}
window.addEventListener('hashchange', function () { openCall(location.hash.slice(1)); });
if (location.hash) { openCall(location.hash.slice(1)); }
var search = document.getElementById('call-search'), pick = document.getElementById('verdict-rule');
function filterCalls() {
  var text = search ? search.value.trim().toLowerCase() : '', rule = pick ? pick.value : '';
  var shown = 0;
  document.querySelectorAll('tr.call-row').forEach(function (row) {
    var ok = (!rule || row.dataset.rule === rule) && (!text || row.dataset.text.indexOf(text) >= 0);
    row.hidden = !ok;
    var section = document.getElementById(row.dataset.section);
    if (section) { section.hidden = !ok || section.classList.contains('folded'); }
    if (ok) { shown += 1; }
  });
  var count = document.getElementById('calls-shown');
  if (count) { count.textContent = shown + ' shown'; }
}
if (search) { search.addEventListener('input', filterCalls); }
if (pick) { pick.addEventListener('change', filterCalls); }
document.addEventListener('click', function (event) {
  var b = event.target.closest ? event.target.closest('button.copy') : null;
  if (!b) { return; }
  var done = function () { b.textContent = 'copied'; };
  var fail = function () { b.textContent = 'select it to copy'; };
  if (navigator.clipboard) { navigator.clipboard.writeText(b.dataset.filter).then(done, fail); } else { fail(); }
});
"""


@dataclass(frozen=True)
class HtmlOptions:
    media_gap_s: float = 15.0  # silences at least this long are shaded in the RTP graph
    full_up_to: int = 50  # a report of at most this many calls shows every call in full; above it, only failures


_CHUNK = 100  # folded calls per deflated chunk: opening a call inflates the 100 it shares a chunk with


def _e(text: object) -> str:
    """Capture text for HTML: controls, line breaks, bidi and invisible characters shown as escapes
    (display_text), then escaped (quotes too)."""
    return html.escape(display_text(str(text)), quote=True)


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def script_json(value: object) -> str:
    """JSON for the text of a <script type="application/json"> element: "<", ">" and "&" as \\u escapes, so no
    string inside can end the element ("</script>") or start a comment or markup, whatever it holds."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def folds(call: CallReport, calls: int, options: HtmlOptions) -> bool:
    """Whether a call of a report of `calls` calls is folded: only in a big report, and never a failure."""
    return calls > options.full_up_to and call.verdict.status is not Status.FAIL


def _badge(status: Status | str) -> str:
    if isinstance(status, Status):
        label, css = _BADGE[status], "na" if status is Status.NA else status.value
    else:
        label, css = status, status
    return f'<span class="badge b-{css}">{_e(label)}</span>'


# --- checklist -----------------------------------------------------------------------


def _check_row(check: Check) -> str:
    details = []
    if check.evidence:
        items = "".join(f"<li>{_e(e.label)}: {_e(e.value)}</li>" for e in check.evidence)
        details.append(f'<ul class="evidence">{items}</ul>')
    if check.frames:
        details.append(f'<div class="muted">frames {_e(", ".join(map(str, check.frames[:20])))}</div>')
    if check.remedy:
        details.append(f'<div class="remedy"><b>Remedy:</b> {_e(check.remedy)}</div>')
    if check.display_filter:
        details.append(f'<div class="filter"><code>{_e(check.display_filter)}</code>'
                       f'<button class="copy" type="button" data-filter="{_e(check.display_filter)}">copy</button>'
                       "</div>")
    return (f"<tr><td>{_badge(check.status)}</td><td class=\"mono\">{_e(check.id)}</td><td>{_e(check.name)}</td>"
            f"<td><b>{_e(check.summary)}</b>{''.join(details)}</td></tr>")


def _checklist(checks: Sequence[Check]) -> str:
    if not checks:
        return ""
    head = "<tr><th>status</th><th>rule</th><th>name</th><th>finding, evidence and remedy</th></tr>"
    shown = [c for status in _ORDER for c in checks if c.status is status]
    rest = [c for c in checks if c.status not in _ORDER]
    out = [f"<table>{head}{''.join(_check_row(c) for c in shown)}</table>"] if shown else []
    if rest:
        passed = sum(1 for c in rest if c.status is Status.PASS)
        out.append(f"<details><summary>{passed} passed, {len(rest) - passed} not applicable</summary>"
                   f"<table>{head}{''.join(_check_row(c) for c in rest)}</table></details>")
    return "".join(out)


# --- ladder ----------------------------------------------------------------------------

_COL = 230
_LEFT = 96
_TOP = 70
_ROW = 34
_NOTE = 15


def _short(text: str, room: int) -> str:
    return text if len(text) <= room else text[: room - 1] + "\u2026"


def _step_class(step: Step, failing: set[int], unanswered: bool) -> str:
    """rtp, bad (the failing response; a request only when nothing answered it), retrans or msg."""
    if step.rtp:
        return "rtp"
    if step.status is not None:
        if step.frame in failing or (step.status >= 400 and step.status not in (401, 407)):
            return "bad"
    elif step.frame in failing and unanswered:
        return "bad"
    if step.retransmission:
        return "retrans"
    return "msg"


def ladder_svg(drawing: Ladder, number: int, failing: set[int], unanswered: bool = False) -> str:
    """The ladder as SVG: endpoints as columns, messages as arrows with times, SDP notes and frames."""
    columns = max(len(drawing.columns), 1)
    width = _LEFT + 60 + (columns - 1) * _COL + 200
    x = [_LEFT + 60 + i * _COL for i in range(columns)]
    t0 = drawing.steps[0].time if drawing.steps else 0.0
    rows, y = [], _TOP + 20
    for step in drawing.steps:
        css = _step_class(step, failing, unanswered)
        label = step.label + (" (retransmission)" if step.retransmission else "")
        a, b = x[step.src], x[step.dst]
        text_class = ' class="bad-text"' if css == "bad" else ""
        rows.append(f'<text class="time" x="6" y="{y + 4}">+{step.time - t0:.3f} s</text>')
        if a == b:
            rows.append(f'<path class="{css}" fill="none" d="M{a} {y - 8} h40 v16 h-36" '
                        f'marker-end="url(#arrow-{number})"/>')
            rows.append(f'<text{text_class} x="{a + 46}" y="{y + 4}">{_e(_short(label, 40))}</text>')
        else:
            end = b - 6 if b > a else b + 6
            marker = "" if css == "rtp" else f' marker-end="url(#arrow-{number})"'
            rows.append(f'<line class="{css}" x1="{a}" y1="{y}" x2="{end}" y2="{y}"{marker}/>')
            room = max(abs(b - a) // 7, 12)
            rows.append(f'<text{text_class} x="{(a + b) / 2}" y="{y - 6}" text-anchor="middle">'
                        f"<title>{_e(label)}</title>{_e(_short(label, room))}</text>")
        rows.append(f'<text class="frame" x="{x[-1] + 30}" y="{y + 4}">frame {step.frame}</text>')
        if step.note:
            note = f"{step.sdp}: {step.note}" if step.sdp else step.note
            rows.append(f'<text class="note" x="{min(a, b) + 4}" y="{y + _NOTE}"><title>{_e(note)}</title>'
                        f"{_e(_short(note, max(abs(b - a) // 6, 60)))}</text>")
            y += _NOTE
        y += _ROW
    height = y + 10
    heads = []
    for i, endpoint in enumerate(drawing.columns):
        role = drawing.roles.get(endpoint, "")
        heads.append(f'<rect class="head" x="{x[i] - 100}" y="8" width="200" height="44" rx="6"/>'
                     f'<text x="{x[i]}" y="27" text-anchor="middle" class="mono">{_e(_short(str(endpoint), 30))}'
                     f'</text><text x="{x[i]}" y="44" text-anchor="middle" class="note">{_e(role)}</text>'
                     f'<line class="life" x1="{x[i]}" y1="52" x2="{x[i]}" y2="{height - 4}"/>')
    return (f'<svg id="ladder-{number}" class="ladder" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="SIP ladder">'
            f'<defs><marker id="arrow-{number}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" '
            'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
            '<path d="M0 0 L10 5 L0 10 z" fill="#37474f"/></marker>'
            f"</defs>{''.join(heads)}{''.join(rows)}</svg>")


# --- RTP graph ---------------------------------------------------------------------------

_GW, _GH, _GL, _GT = 700, 170, 56, 34
_MAX_TICKS = 12


def _nice_step(span: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600):
        if span / step <= 12:
            return step
    return span / 10


def _series(stream: RtpStream) -> tuple[list[tuple[float, int]], bool]:
    """(second, packets) points of a stream, and whether they are exact per-second counts."""
    if stream.pps:
        return [(stream.pps_start + i + 0.5, n) for i, n in enumerate(stream.pps)], True
    span = max(stream.last_time - stream.first_time, 1.0)
    rate = round(stream.packets / span)
    return [(stream.first_time, rate), (stream.last_time, rate)], False


def _who(sender: str | None) -> str:
    return f"{sender} \u2192 {CALLEE if sender == CALLER else CALLER}" if sender else "unknown sender"


def _dialog_marks(analysis: CallAnalysis) -> list[tuple[float, str]]:
    """What changed the media mid-call: re-INVITEs and UPDATEs with SDP (named hold or resume by the
    direction they ask for) and REFERs, each once (retransmissions skipped)."""
    marks: list[tuple[float, str]] = []
    first = analysis.flow.first_invite
    held = False
    for m in analysis.call.messages:
        if not m.is_request or m.retransmission or m is first:
            continue
        if m.method == "REFER":
            marks.append((m.time, "REFER"))
        elif m.method in ("INVITE", "UPDATE") and m.to_tag:
            label = f"re-{m.method}" if m.method == "INVITE" else "UPDATE"
            media = m.sdp.audio() if m.sdp is not None else None
            if m.sdp is not None and media is not None:
                direction = m.sdp.direction_of(media)
                address = m.sdp.address_of(media)
                holding = direction in ("sendonly", "inactive") or address in ("0.0.0.0", "::") or not media.port
                if holding:
                    label = f"hold ({label})"
                elif held:
                    label = f"resume ({label})"
                held = holding
            marks.append((m.time, label))
    return marks


def rtp_graph_svg(analysis: CallAnalysis, number: int, options: HtmlOptions) -> str:
    """Packets per second per direction over the call's time, with 200 OK, ACK and BYE marked."""
    view, flow, call = analysis.media, analysis.flow, analysis.call
    times = [m.time for m in call.messages] + [t for s in call.streams for t in (s.first_time, s.last_time)]
    t0, t1 = min(times), max(times)
    t1 = max(t1, t0 + 1.0)
    span = t1 - t0

    def x(t: float) -> float:
        return round(_GL + (t - t0) / span * _GW, 1)

    series = [(stream, *_series(stream)) for stream in call.streams]
    peak = max([n for _, points, _ in series for _, n in points] + [10])
    top = int(-(-peak * 1.15 // 10) * 10)

    def y(v: float) -> float:
        return round(_GT + _GH - v / top * _GH, 1)

    parts = []
    step = _nice_step(span)
    for k in range(min(int(span / step + 1e-9), _MAX_TICKS) + 1):  # bounded whatever the times say
        tick = k * step
        parts.append(f'<line class="grid" x1="{x(t0 + tick)}" y1="{_GT}" x2="{x(t0 + tick)}" y2="{_GT + _GH}"/>'
                     f'<text class="time" x="{x(t0 + tick)}" y="{_GT + _GH + 16}" text-anchor="middle">'
                     f"{tick:g} s</text>")
    for v in (0, top // 2, top):
        parts.append(f'<line class="grid" x1="{_GL}" y1="{y(v)}" x2="{_GL + _GW}" y2="{y(v)}"/>'
                     f'<text class="time" x="{_GL - 6}" y="{y(v) + 4}" text-anchor="end">{v}</text>')
    parts.append(f'<text class="note" transform="translate(14 {_GT + _GH / 2}) rotate(-90)" text-anchor="middle">'
                 "packets/s</text>")
    # each stream's longest silences, marked; those long enough to end a call, shaded and named
    for stream in call.streams:
        for gap in stream.gaps:
            if GAPS_SHOWN_MIN_S <= gap.length_s < options.media_gap_s:
                parts.append(f'<rect class="gap-short" x="{x(gap.start_time)}" y="{_GT + _GH - 8}" '
                             f'width="{max(x(gap.start_time + gap.length_s) - x(gap.start_time), 1.0):.1f}" '
                             f'height="8"><title>{_e(stream.label())}: no packet for {gap.length_s:.3f} s from '
                             f"{gap.start_time:.3f} s (frame {gap.end_frame} ends it)</title></rect>")
        if stream.gap_max_s >= options.media_gap_s:
            start = stream.gap_start_time
            who = _who(view.sender_of(stream))
            parts.append(f'<rect class="gap" x="{x(start)}" y="{_GT}" width="{x(start + stream.gap_max_s) - x(start)}" '
                         f'height="{_GH}"><title>no RTP {_e(stream.label())} for {stream.gap_max_s:.1f} s</title>'
                         f'</rect><text class="missing" x="{x(start) + 4}" y="{_GT + 14}">'
                         f"{_e(who)}: no RTP for {stream.gap_max_s:.1f} s</text>")
    legend = []
    senders = set()
    for stream, points, exact in series:
        sender = view.sender_of(stream)
        senders.add(sender)
        colour = _DIRECTION_COLOUR.get(sender, "#777777")
        dash = "" if exact else ' stroke-dasharray="6 4"'
        path = " ".join(f"{x(t)},{y(n)}" for t, n in points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{path}"/>')
        legend.append((colour, f"{_who(sender)}: {stream.src} \u2192 {stream.dst}, {stream.packets} packets, "
                       f"lost {max(stream.lost, 0)}"))
    if any(not exact for _, _, exact in series):
        legend.append(("#ffffff", "dashed: average rate (this summary has no per-second counts)"))
    answered = flow.answer
    if answered is not None:
        for party in (CALLER, CALLEE):
            if party not in senders:
                legend.append(("#c62828", f"{_who(party)}: no RTP at all after the answer"))
                parts.append(f'<rect class="gap" x="{x(answered.time)}" y="{_GT}" '
                             f'width="{x(t1) - x(answered.time)}" height="{_GH}"/>')
    marks = []
    if answered is not None:
        marks.append((answered.time, answered.label))
        ack = flow.ack_for(answered)
        if ack is not None:
            marks.append((ack.time, "ACK"))
    marks.extend(_dialog_marks(analysis))
    bye = next((m for m in call.messages if m.is_request and m.method == "BYE"), None)
    if bye is not None:
        marks.append((bye.time, "BYE"))
    marks.sort(key=lambda mark: mark[0])
    for k, (t, label) in enumerate(marks):
        parts.append(f'<line class="marker" x1="{x(t)}" y1="{_GT - 4}" x2="{x(t)}" y2="{_GT + _GH}"/>'
                     f'<text class="note" x="{x(t) + 3}" y="{_GT - 6 - 11 * (k % 2)}">{_e(label)}</text>')
    if not call.streams:
        if answered is not None:
            parts.append(f'<text class="missing" x="{_GL + 10}" y="{_GT + _GH / 2}">no RTP in this call</text>')
        else:
            parts.append(f'<text class="note" x="{_GL + 10}" y="{_GT + _GH / 2}">no RTP: none expected, '
                         "the call was not answered</text>")
    legend_y = _GT + _GH + 34
    for k, (colour, text) in enumerate(legend):
        ly = legend_y + 18 * k
        missing = colour == "#c62828"
        parts.append(f'<line x1="{_GL}" y1="{ly - 4}" x2="{_GL + 24}" y2="{ly - 4}" stroke="{colour}" '
                     f'stroke-width="3"/><text{" class=" + chr(34) + "missing" + chr(34) if missing else ""} '
                     f'x="{_GL + 32}" y="{ly}">{_e(text)}</text>')
    height = legend_y + 18 * len(legend) + 6
    width = _GL + _GW + 50
    return (f'<svg id="rtp-{number}" class="rtp-graph" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="RTP packets per second">'
            f'<line class="axis" x1="{_GL}" y1="{_GT + _GH}" x2="{_GL + _GW}" y2="{_GT + _GH}"/>'
            f'<line class="axis" x1="{_GL}" y1="{_GT}" x2="{_GL}" y2="{_GT + _GH}"/>{"".join(parts)}</svg>')


def streams_table(analysis: CallAnalysis) -> str:
    """The call's streams as `sipdiag streams` shows them: the RTP Stream Analysis figures and the MOS
    (its explanation on hover and below), the longest gaps, the DTMF digits."""
    call = analysis.call
    if not call.streams:
        return ""
    quality = {id(q.stream): q for q in analysis.quality}
    rows, notes = [], []
    for i, stream in enumerate(call.streams, start=1):
        q = quality.get(id(stream))
        names = dict(q.names) if q is not None else {}
        payload = ", ".join(f"{p.pt} {names.get(p.pt, '')}".strip() for p in stream.payloads)
        pct = f" ({100.0 * stream.lost / stream.expected:.1f}%)" if stream.expected else ""
        mos = f"{q.mos:.2f}" if q is not None and q.mos is not None else "-"
        why = q.adaptive.explain() if q is not None else ""
        rows.append(f'<tr><td class="num">{i}</td><td class="mono">{_e(stream.src)}</td>'
                    f'<td class="mono">{_e(stream.dst)}</td><td class="mono">{stream.ssrc_hex}</td>'
                    f"<td>{_e(payload)}</td><td class=\"num\">{stream.packets}</td>"
                    f'<td class="num">{stream.lost}{pct}</td><td class="num">{stream.seq_errors}</td>'
                    f'<td class="num">{stream.delta_max_ms:.3f}</td><td class="num">{stream.jitter_mean_ms:.3f}</td>'
                    f'<td class="num">{stream.jitter_max_ms:.3f}</td><td class="num" title="{_e(why)}">{mos}</td></tr>')
        if why:
            notes.append(f"<li>#{i} {_e(why)}</li>")
        gaps = [g for g in stream.gaps if g.length_s >= GAPS_SHOWN_MIN_S]
        if gaps:
            notes.append(f"<li>#{i} longest gaps: " + ", ".join(
                f"{g.length_s:.3f} s from {g.start_time:.3f} s (frame {g.end_frame})" for g in gaps) + "</li>")
    digits = analysis.dtmf.digits
    if digits:
        notes.append("<li>DTMF: " + ", ".join(
            f"{_e(d.key)} at {d.time:.3f} s ({_e(d.method)}, frame {d.frame})" for d in digits) + "</li>")
    return ('<h4>RTP streams</h4><table class="streams"><tr><th>#</th><th>source</th><th>destination</th>'
            "<th>SSRC</th><th>payload</th><th>packets</th><th>lost</th><th>seq errors</th><th>max delta ms</th>"
            "<th>mean jitter ms</th><th>max jitter ms</th><th>MOS</th></tr>" + "".join(rows) + "</table>"
            + (f'<ul class="evidence">{"".join(notes)}</ul>' if notes else ""))


# --- page ------------------------------------------------------------------------------


def _findings(checks: Sequence[Check]) -> str:
    """The failures and warnings, one line each: why the call failed, before the pictures."""
    items = [f"<li>{_badge(c.status)} <span class=\"mono\">{_e(c.id)}</span> {_e(c.summary)}</li>"
             for status in (Status.FAIL, Status.WARN) for c in checks if c.status is status]
    return f'<ul class="findings">{"".join(items)}</ul>' if items else ""


def _verdict_line(call: CallReport) -> str:
    verdict = call.verdict
    rule = f' <span class="mono">{_e(verdict.rule)}</span>' if verdict.rule else ""
    return f'<p class="verdict"><b>Verdict:</b> {_badge(verdict.status)}{rule} {_e(verdict.summary)}</p>'


def _legs_line(call: CallReport, anchors: dict[str, int]) -> str:
    if not call.legs:
        return ""
    links = ", ".join(f'<a class="mono" href="#call-{anchors[leg]}">{_e(leg)}</a>' if leg in anchors
                      else f'<span class="mono">{_e(leg)}</span>' for leg in call.legs)
    return f'<p class="meta">Other legs of this conversation (read them side by side): {links}</p>'


def _call_parts(call: CallReport, number: int, options: HtmlOptions, anchors: dict[str, int]) -> tuple[str, ...]:
    """A call's section in five pieces that join to it: heading and findings, ladder, RTP graph, streams,
    checklist (the pictures and streams empty without an analysis). Folded data keeps like pieces together."""
    badge = _badge(call.verdict.status)
    final = f"final response {call.final_status}" if call.final_status else "no final response"
    head = "".join((
        f'<section class="call" id="call-{number}"><h3>{badge} Call <span class="mono">{_e(call.call_id)}</span>'
        f"</h3><div class=\"meta\">{_e(call.direction)}, {_e(call.from_ or '?')} \u2192 {_e(call.to or '?')}, "
        f"{final}, {call.duration:.1f} s, first frame {call.first_frame}</div>",
        _verdict_line(call), _legs_line(call, anchors), _findings(call.checks)))
    checklist = "<h4>Checklist</h4>" + _checklist(call.checks) + "</section>"
    if call.analysis is None:
        return head, "", "", "", checklist
    failing = {f for c in call.checks if c.status is Status.FAIL for f in c.frames}
    ladder = ('<div class="pictures"><div><h4>Ladder</h4>'
              + ladder_svg(build(call.analysis), number, failing, call.final_status is None) + "</div>")
    graph = "<div><h4>RTP in and out</h4>" + rtp_graph_svg(call.analysis, number, options) + "</div></div>"
    return head, ladder, graph, streams_table(call.analysis), checklist


def _call_row(call: CallReport, number: int, capture: str) -> str:
    verdict = call.verdict
    text = " ".join((str(number), call.call_id, call.from_, call.to, capture, verdict.rule or "")).lower()
    return (f'<tr class="call-row" data-rule="{_e(verdict.rule or "pass")}" data-text="{_e(text)}" '
            f'data-section="call-{number}"><td>{number}</td><td>{_badge(verdict.status)}</td>'
            f'<td class="mono">{_e(verdict.rule or "")}</td><td><a href="#call-{number}" class="mono">'
            f"{_e(call.call_id)}</a></td><td>{_e(call.direction)}</td><td>{call.final_status or ''}</td>"
            f"<td>{_e(verdict.summary)}</td></tr>")


def _call_index(rows: Sequence[str], rules: Sequence[str]) -> str:
    if not rows:
        return ""
    options = "".join(f'<option value="{_e(r)}">{_e(r)}</option>' for r in rules)
    return ('<h2>Calls</h2><div class="filters"><label>Search <input id="call-search" type="search" '
            'placeholder="Call-ID, number, From/To, capture"></label> <label>Verdict <select id="verdict-rule">'
            f'<option value="">any</option>{options}</select></label> <span id="calls-shown" class="muted">'
            f'{len(rows)} shown</span></div><table><tr><th>#</th><th>verdict</th><th>rule</th><th>call</th>'
            f"<th>direction</th><th>final</th><th>why</th></tr>{''.join(rows)}</table>")


def _placeholder(number: int, chunk: int) -> str:
    return f'<div class="call folded" id="call-{number}" data-chunk="{chunk}" hidden></div>'


def _folded_calls(sections: Sequence[tuple[int, tuple[str, ...]]]) -> str:
    """The folded calls' sections as one data element: {"chunks": [base64 of deflated JSON]}, _CHUNK calls a
    chunk in the order given (call k of the list in chunk k // _CHUNK). A chunk is {"ids": ["call-N", ...],
    "parts": [[first piece of each call], [second piece of each call], ...]}: like pieces side by side
    deflate to about 20 % less than whole sections one after another (a section is near the 32 KB window)."""
    if not sections:
        return ""
    chunks = []
    for start in range(0, len(sections), _CHUNK):
        some = sections[start:start + _CHUNK]
        parts = [list(piece) for piece in zip(*(pieces for _, pieces in some), strict=True)]
        chunk = {"ids": [f"call-{number}" for number, _ in some], "parts": parts}
        deflated = zlib.compress(json.dumps(chunk, separators=(",", ":")).encode(), 9)
        chunks.append(base64.b64encode(deflated).decode("ascii"))
    return f'<script type="application/json" id="folded-calls">{script_json({"chunks": chunks})}</script>'


def report_html(captures: Sequence[CaptureReport], options: HtmlOptions = HtmlOptions()) -> str:
    batch = summarise(captures)
    total = sum(len(capture.calls) for capture in captures)
    rows, sections, index, rules, number = [], [], [], set(), 0
    folded: list[tuple[int, tuple[str, ...]]] = []
    for capture in captures:
        fails = sum(1 for c in capture.all_checks() if c.status is Status.FAIL)
        warns = sum(1 for c in capture.all_checks() if c.status is Status.WARN)
        rows.append(f"<tr><td class=\"mono\">{_e(capture.path)}</td><td>{_badge(capture.status)}</td>"
                    f"<td>{len(capture.calls)}</td><td>{fails}</td><td>{warns}</td></tr>")
        body = [f"<h2>{_badge(capture.status)} Capture <span class=\"mono\">{_e(capture.path)}</span></h2>"]
        if capture.error:
            body.append(f'<p class="missing">{_e(capture.error)}</p>')
        body.append(_checklist(capture.capture_checks))
        anchors = {call.call_id: number + i + 1 for i, call in enumerate(capture.calls)}
        for call in capture.calls:
            number += 1
            index.append(_call_row(call, number, capture.path))
            rules.add(call.verdict.rule or "pass")
            parts = _call_parts(call, number, options, anchors)
            if folds(call, total, options):
                body.append(_placeholder(number, len(folded) // _CHUNK))
                folded.append((number, parts))
            else:
                body.append("".join(parts))
        sections.append("".join(body))
    csp = (f"default-src 'none'; style-src {_hash(_CSS)}; script-src {_hash(_JS)}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>sipdiag report</title><style>{_CSS}</style></head><body>"
        f"<h1>sipdiag report</h1><div class=\"meta\">{_e(summary_line(batch))}; sipdiag {_e(__version__)}</div>"
        "<table><tr><th>capture</th><th>status</th><th>calls</th><th>failed</th><th>warnings</th></tr>"
        f"{''.join(rows)}</table>{_call_index(index, sorted(rules))}{''.join(sections)}"
        f"{_folded_calls(folded)}<script>{_JS}</script></body></html>\n"
    )
