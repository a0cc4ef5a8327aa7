"""Per-stream packets, loss and jitter agree with tshark's own `-z rtp,streams`.

For every fixture and every capture of ../shared/corpus (when present) that
holds RTP: the tap's streams and tshark's are the same set, with the same
packets, lost, mean and max jitter and max delta (docs/pdml-schema.md
explains the one intended difference, which tshark 4.0 does not show). A
capture without RTP is skipped, not counted as agreement. Two derived
fixtures differ from tshark on purpose and are held to their source
capture instead: frames captured twice are counted once (CAP006), and a
clock that jumps by years is taken out of the stream's timing (CAP005).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
from pathlib import Path

import pytest
import scenarios as sc

from sipdiag_post import pdml
from sipdiag_post.tshark import TsharkError, find_tshark, tap_script

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("SIPDIAG_CORPUS", ROOT.parent / "shared" / "corpus"))
_ROW = re.compile(
    r"^\s*[\d.]+\s+[\d.]+\s+(?P<src>\S+)\s+(?P<sport>\d+)\s+(?P<dst>\S+)\s+(?P<dport>\d+)\s+(?P<ssrc>0x[0-9A-Fa-f]+)"
    r"\s+.+?\s+(?P<packets>\d+)\s+(?P<lost>-?\d+) \([-\d.]+%\)\s+[-\d.]+\s+[-\d.]+\s+(?P<max_delta>[-\d.]+)"
    r"\s+[-\d.]+\s+(?P<mean_jitter>[-\d.]+)\s+(?P<max_jitter>[-\d.]+)"
)


def _inputs() -> list[tuple[str, Path, tuple[str, ...]]]:
    out = [(f"fixture:{s.name}", ROOT / "fixtures" / s.name / "capture.pcap",
            tuple(a for rule in s.decode_as for a in ("-d", rule))) for s in sc.SCENARIOS]
    manifest = CORPUS / "MANIFEST.tsv"
    if manifest.exists():
        with manifest.open(newline="") as handle:
            for entry in csv.DictReader(handle, delimiter="\t"):
                decode = tuple(a for rule in re.findall(r"-d ([\w.=,]+)", entry["notes"]) for a in ("-d", rule))
                out.append((f"corpus:{entry['file']}", CORPUS / entry["file"], decode))
    return out


INPUTS = _inputs()
# map from a derived fixture to the fixture it must equal, stream for stream (where tshark differs on purpose)
SAME_AS_SOURCE = {s.name: s.source for s in sc.SCENARIOS if s.kind in ("duplicate", "timejump")}


@pytest.fixture(scope="module")
def tshark_path() -> str:
    try:
        return find_tshark().path
    except TsharkError as exc:
        pytest.skip(str(exc))


def tshark_streams(tshark: str, capture: Path, decode: tuple[str, ...]) -> dict[tuple, dict[str, str]]:
    out = subprocess.run([tshark, "-q", "-n", "-r", str(capture), *decode, "-z", "rtp,streams"],
                         capture_output=True, text=True, check=False).stdout
    streams = {}
    for line in out.splitlines():
        m = _ROW.match(line)
        if m:
            key = (m["src"], int(m["sport"]), m["dst"], int(m["dport"]), int(m["ssrc"], 16))
            streams[key] = {k: m[k] for k in ("packets", "lost", "max_delta", "mean_jitter", "max_jitter")}
    return streams


def _tap_streams(tshark_path: str, capture: Path, decode: tuple[str, ...], out: Path) -> tuple[dict, dict]:
    """The tap's streams: (those tshark decoded, those the tap read itself from plain UDP)."""
    subprocess.run([tshark_path, "-q", "-n", "-r", str(capture), *decode, "-X", f"lua_script:{tap_script()}",
                    "-X", f"lua_script1:out={out}"], capture_output=True, check=False)
    summary = pdml.read_summary(out)
    ours, own = {}, {}
    for s in [s for c in summary.calls for s in c.streams] + list(summary.unlinked_streams):
        (ours if s.decoded_by == "tshark" else own)[(s.src.addr, s.src.port, s.dst.addr, s.dst.port, s.ssrc)] = {
            "packets": str(s.packets), "lost": str(s.lost), "max_delta": f"{s.delta_max_ms:.3f}",
            "mean_jitter": f"{s.jitter_mean_ms:.3f}", "max_jitter": f"{s.jitter_max_ms:.3f}"}
    return ours, own


@pytest.mark.parametrize(("name", "capture", "decode"), INPUTS, ids=[i[0] for i in INPUTS])
def test_streams_agree_with_tshark(tshark_path, tmp_path, name, capture, decode):
    if capture.stat().st_size == 0:
        pytest.skip("empty file")
    ours, own = _tap_streams(tshark_path, capture, decode, tmp_path / "summary.pdml")
    source = SAME_AS_SOURCE.get(name.removeprefix("fixture:"))
    if source is not None:
        assert ours, f"{name}: the tap found no stream"
        expected, _ = _tap_streams(tshark_path, ROOT / "fixtures" / source / "capture.pcap", decode,
                                   tmp_path / "source.pdml")
        assert not own and ours.keys() == expected.keys()
        for key, values in ours.items():  # the jump's one packet counts as on time: jitter moves a little
            assert (values["packets"], values["lost"]) == (expected[key]["packets"], expected[key]["lost"])
            assert abs(float(values["mean_jitter"]) - float(expected[key]["mean_jitter"])) < 0.5
        return
    theirs = tshark_streams(tshark_path, capture, decode)
    if not (ours or own or theirs):
        pytest.skip("no RTP in this capture: nothing to agree on")
    if own:  # streams the tap read (in part) from plain UDP: tshark agrees once told those ports carry RTP
        forced = tuple(a for port in sorted({k[3] for k in own}) for a in ("-d", f"udp.port=={port},rtp"))
        theirs |= {k: v for k, v in tshark_streams(tshark_path, capture, decode + forced).items() if k in own}
    assert ours | own == theirs
