"""LiveKit as it really is: its side recognised by its fingerprints, its causes named, its settings in the remedy.

Every fixture that plays LiveKit (a faithful peer: no User-Agent/Server, SCL_ tags, s=LiveKit,
100 Processing, 180 every second, its real phrases) must come out with the right direction and
its evidence, a verdict naming the LiveKit cause, and a remedy naming what to check on LiveKit.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# fixture -> (direction, the evidence that decided it, verdict rule, a word of the remedy that names what to check)
LIVEKIT = {
    "livekit-404-no-trunk": ("inbound", "LiveKit's To-tag SCL_", "SIP004", "inbound trunk's numbers"),
    "livekit-404-no-dispatch": ("inbound", "LiveKit's To-tag SCL_", "SIP004", "dispatch rule"),
    "livekit-503-quota": ("inbound", "LiveKit's To-tag SCL_", "SIP006", "limit"),
    "livekit-503-try-later": ("inbound", "LiveKit's To-tag SCL_", "SIP006", "SIP call logs"),
    "livekit-486-rejected": ("inbound", "LiveKit's To-tag SCL_", "SIP005", "agent_name"),
    "486-busy-inbound": ("inbound", "LiveKit's To-tag SCL_", "SIP005", "agent_name"),
    "livekit-400-bad-offer": ("inbound", "LiveKit's To-tag SCL_", "SDP003", "PCMU (0), PCMA (8) or G722 (9)"),
    "livekit-no-final": ("inbound", "LiveKit's To-tag SCL_", "SIP007", "flood protection"),
    "livekit-hidden-port": ("inbound", "is in --local", "SIP007", "hide_inbound_port"),
    "livekit-ack-missing": ("inbound", "LiveKit's To-tag SCL_", "SIP010", "nat_1_to_1_ip"),
    "livekit-media-timeout": ("inbound", "s=LiveKit", "RTP007", "15 s of silence"),
    "media-one-way-nat": ("inbound", "", "SDP004", "symmetric_rtp"),
    "livekit-outbound-twilio-fraud": ("outbound", "LiveKit's From-tag SCL_", "SIP002", "32203"),
    "livekit-outbound-rate-limit": ("outbound", "LiveKit's From-tag SCL_", "SIP006", "rate limit"),
    "livekit-outbound-ok": ("outbound", "", None, ""),
    "livekit-cloud-capture": ("inbound", "", None, ""),
}


@pytest.mark.parametrize("name", sorted(LIVEKIT))
def test_livekit_side_cause_and_setting(fixture_runs, name):
    direction, why, rule, setting = LIVEKIT[name]
    (call,) = fixture_runs[name].json["captures"][0]["calls"]
    assert call["direction"] == direction
    decided = [e["value"] for c in call["checks"] for e in c["evidence"]
               if e["label"] == "direction" and e["value"].startswith(direction)]
    assert all(why in d for d in decided), decided
    verdict = call["verdict"]
    assert verdict["rule"] == rule, verdict
    if rule is None:
        assert not [c["id"] for c in call["checks"] if c["status"] == "fail"]
        return
    primary = next(c for c in call["checks"] if c["id"] == rule)
    assert setting in (primary["remedy"] or ""), primary["remedy"]


@pytest.mark.parametrize("name", ["livekit-404-no-trunk", "livekit-outbound-ok", "486-busy-inbound"])
def test_cid001_shows_livekit_s_call_id_from_its_tag(fixture_runs, name):
    (call,) = fixture_runs[name].json["captures"][0]["calls"]
    cid = next(c for c in call["checks"] if c["id"] == "CID001")
    ids = [e["value"] for e in cid["evidence"] if e["label"] == "LiveKit call id"]
    assert ids and all(re.fullmatch(r"SCL_\w+", i) for i in ids)


def test_no_fixture_gives_livekit_a_user_agent_or_server_on_invites_and_responses(tshark):
    for capture in sorted((ROOT / "fixtures").glob("*/capture.pcap")):
        done = subprocess.run([tshark.path, "-n", "-r", str(capture), "-o", "udp.try_heuristic_first:TRUE",
                               "-Y", 'sip.User-Agent contains "LiveKit" || sip.Server contains "LiveKit"',
                               "-T", "fields", "-e", "sip.Method", "-e", "sip.Status-Code"],
                              capture_output=True, text=True, check=False)  # the truncated fixture exits 2
        assert done.stdout or done.returncode in (0, 2), done.stderr
        # LiveKit sends User-Agent: LiveKit only on a BYE or CANCEL it sends as the caller
        carriers = {line.strip() for line in done.stdout.splitlines() if line.strip()}
        assert carriers <= {"BYE", "CANCEL"}, (capture.parent.name, carriers)
