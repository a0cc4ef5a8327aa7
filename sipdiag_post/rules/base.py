"""What a rule is, what it declares beside its check, and what it gets to look at.

A rule declares, next to its check: its thresholds (name, default, unit; the
threshold table of the CLI and the docs is built from these) and the final
responses it reports (so SIP008 can leave them to it through the registry).
Its remedies are written once, in its docstring's Remedy section, which the
check reads with `remedies(__doc__)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..analysis import CallAnalysis, CaptureAnalysis
from ..analysis.direction import Direction, IPNetwork
from ..analysis.flow import CallFlow
from ..analysis.media import MediaView
from ..model import Call, CaptureFacts, Summary
from ..verdict import Outcome, Status


@dataclass(frozen=True)
class Threshold:
    """A limit between pass, warn and fail that the user may override (-T NAME=VALUE)."""

    name: str  # loss_warn_pct
    default: float  # from the guide (see the catalog)
    unit: str  # %, ms, s
    help: str  # one line: what crossing it means
    lower_is_worse: bool = False  # MOS: a value under the limit is the problem

    def of(self, settings: Settings) -> float:
        """The value in force: the user's override, else the default."""
        return self.of_values(settings.thresholds)

    def of_values(self, overrides: Mapping[str, float]) -> float:
        return overrides.get(self.name, self.default)


@dataclass(frozen=True)
class Settings:
    """What the user told us: our side of the call and threshold overrides (name -> value)."""

    local_nets: tuple[IPNetwork, ...] = ()
    thresholds: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CallContext:
    """What a call rule looks at: the call's analysis (built once by the engine), the capture, the settings."""

    analysis: CallAnalysis
    capture: CaptureAnalysis  # the whole capture: other calls' flows, the summary
    settings: Settings
    final_rules: Mapping[int, str] = field(default_factory=dict)  # final status -> rule id(s) that report it

    @property
    def call(self) -> Call:
        return self.analysis.call

    @property
    def flow(self) -> CallFlow:
        return self.analysis.flow

    @property
    def media(self) -> MediaView:
        return self.analysis.media

    @property
    def direction(self) -> Direction:
        return self.analysis.direction

    @property
    def facts(self) -> CaptureFacts:
        return self.capture.summary.facts

    @property
    def capture_end(self) -> float:
        """Time of the capture's last packet (s since its first)."""
        return self.facts.duration


@dataclass(frozen=True)
class CaptureContext:
    summary: Summary
    settings: Settings


@dataclass(frozen=True)
class Rule:
    """A check of the catalog: stable id, problem-describing name, documentation, code."""

    id: str
    name: str
    scope: Literal["capture", "call"]
    check: Callable[..., Outcome]
    doc: str  # the module docstring: What it checks / Why it matters / Evidence / Remedy / Exceptions
    aliases: tuple[str, ...] = ()
    statuses: frozenset[Status] = frozenset({Status.PASS, Status.WARN, Status.FAIL, Status.NA})
    # the statuses the rule can return (the meta-test holds every rule to them)
    thresholds: tuple[Threshold, ...] = ()  # the limits it grades with
    finals: frozenset[int] = frozenset()  # final responses to the INVITE this rule reports

    @property
    def title(self) -> str:
        return self.doc.strip().splitlines()[0].strip()

    @property
    def documentation(self) -> str:
        """The docstring as people read it: placeholders shown as '...', the thresholds appended."""
        doc = _PLACEHOLDER.sub("...", self.doc.strip())
        if not self.thresholds:
            return doc
        rows = "\n".join(f"    {t.name} = {t.default:g} {t.unit}: {t.help}" for t in self.thresholds)
        return f"{doc}\n\nThresholds:\n{rows}"


_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
_SECTION = re.compile(r"^([A-Z][\w ]*):$")
_KEYED = re.compile(r"^([a-z][a-z0-9 -]*): (.+)$", re.DOTALL)


def remedies(doc: str | None) -> dict[str, str]:
    """The Remedy section of a rule's docstring, by key: each paragraph is "key: text", its lines
    joined with single spaces ("inbound: ...", "outbound: ..."). Text may hold {placeholders}.
    A rule that only informs says "None: ..." and has no remedies."""
    found: dict[str, str] = {}
    section: str | None = None
    paragraphs: list[list[str]] = []
    for line in (doc or "").splitlines():
        heading = _SECTION.match(line)
        if heading:
            section = heading.group(1)
            continue
        if section != "Remedy":
            continue
        if not line.strip():
            paragraphs.append([])
        elif not paragraphs:
            paragraphs.append([line.strip()])
        else:
            paragraphs[-1].append(line.strip())
    for lines in paragraphs:
        if not lines or lines[0].startswith("None"):
            continue
        keyed = _KEYED.match(" ".join(lines))
        if keyed is None:
            raise ValueError(f"remedy paragraph without a key: {' '.join(lines)[:60]!r}")
        found[keyed.group(1)] = keyed.group(2)
    return found
