"""--format junit: JUnit XML for CI (Jenkins, GitLab, GitHub test reporters).

One <testsuite> per capture, one <testcase> per call and rule (and per
capture-level rule), each call's verdict first as a testcase named VERDICT.
fail is a <failure>; warn stays a passing test whose <system-out> starts
with WARN so it shows in the report; n/a is <skipped>; an unreadable capture
is one <testcase> with an <error>. Built with the standard
library; capture text is cleaned of characters XML forbids, and of C1
controls (sipdiag_post/text.py xml_text).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from ..report import CaptureReport
from ..text import xml_text
from ..verdict import Check, Status


def _detail(check: Check) -> str:
    lines = [f"{check.status.value.upper()}: {check.summary}"]
    lines += [f"{e.label}: {e.value}" for e in check.evidence]
    if check.frames:
        lines.append("frames: " + " ".join(map(str, check.frames)))
    if check.display_filter:
        lines.append(f"display filter: {check.display_filter}")
    if check.remedy:
        lines.append(f"remedy: {check.remedy}")
    return xml_text("\n".join(lines))


def _case(suite: ET.Element, classname: str, check: Check) -> tuple[int, int]:
    """Add one testcase; returns (failures, skipped) it counts for."""
    case = ET.SubElement(suite, "testcase", classname=xml_text(classname), name=f"{check.id} {check.name}")
    if check.status is Status.FAIL:
        failure = ET.SubElement(case, "failure", message=xml_text(check.summary), type="fail")
        failure.text = _detail(check)
        return 1, 0
    if check.status is Status.NA:
        ET.SubElement(case, "skipped", message=xml_text(check.summary))
        return 0, 1
    ET.SubElement(case, "system-out").text = _detail(check)
    return 0, 0


def report_junit(captures: Sequence[CaptureReport]) -> str:
    root = ET.Element("testsuites", name="sipdiag")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for capture in captures:
        suite = ET.SubElement(root, "testsuite", name=xml_text(capture.path))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if capture.status == "error":
            case = ET.SubElement(suite, "testcase", classname="capture", name="read the capture")
            ET.SubElement(case, "error", message=xml_text(capture.error or "unreadable"), type="error")
            counts.update(tests=1, errors=1)
        else:
            cases = [("capture", check) for check in capture.capture_checks]
            for call in capture.calls:  # each call's verdict first, then its checks
                verdict = Check(id="VERDICT", name=call.verdict.rule or "healthy", status=call.verdict.status,
                                summary=call.verdict.summary)
                cases += [(call.call_id, check) for check in (verdict, *call.checks)]
            for classname, check in cases:
                failures, skipped = _case(suite, classname, check)
                counts["tests"] += 1
                counts["failures"] += failures
                counts["skipped"] += skipped
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
