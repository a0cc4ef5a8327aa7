"""How the tap reads a SIP frame: real tshark, the real tap, fixture captures.

The first SIP message of a capture is read through tshark's protocol tree; once the tap knows where a
plain UDP datagram lies in the frame, the next messages are taken from the frame's bytes. Either way
the message must be the same: each message of a capture equals the same frame read alone (a
one-frame slice, editcap), where it is the first and so read through the tree.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from sipdiag_post import pdml
from sipdiag_post.model import SipMessage
from sipdiag_post.tshark import tap_script

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def messages(tshark: str, capture: Path, out: Path) -> list[SipMessage]:
    done = subprocess.run([tshark, "-q", "-n", "-r", str(capture), "-X", f"lua_script:{tap_script()}", "-X",
                           f"lua_script1:out={out}"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    summary = pdml.read_summary(out)
    assert summary.facts.tap_errors == 0
    return [m for call in summary.calls for m in call.messages]


def alone(message: SipMessage) -> SipMessage:
    """What a message read from a one-frame slice can say: no frame, time or retransmission of its own."""
    return replace(message, frame=0, time=0.0, retransmission=False)


# IPv4 and IPv6; offers and answers (SDP bodies), responses without a body, a failure with a Reason
@pytest.mark.parametrize("name", ["healthy-call", "ipv6-call", "403-q850-21", "cancel-487"])
def test_a_message_read_from_the_frames_bytes_equals_the_frame_read_through_the_tree(tshark, tmp_path, name):
    capture = FIXTURES / name / "capture.pcap"
    whole = messages(tshark.path, capture, tmp_path / "whole.pdml")
    assert len(whole) >= 4 and {m.transport for m in whole} == {"UDP"}
    for message in whole[1:]:
        one = tmp_path / f"frame-{message.frame}.pcap"
        subprocess.run(["editcap", "-r", str(capture), str(one), str(message.frame)], check=True, capture_output=True)
        [read_alone] = messages(tshark.path, one, tmp_path / f"frame-{message.frame}.pdml")
        assert alone(read_alone) == alone(message), f"frame {message.frame}"
