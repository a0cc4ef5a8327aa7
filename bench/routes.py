"""The routes sipdiag is measured against: what a Python user would write without it.

    .venv/bin/python bench/routes.py pdml CAPTURE          (e) tshark -T pdml, every packet through lxml
    .venv/bin/python bench/routes.py pyshark CAPTURE N     (f) pyshark over the first N packets

Both gather the same per-call and per-stream counts the tap starts from (SIP
messages by Call-ID, RTP packets by SSRC) and print one line: packets read and
seconds taken. Peak RSS is measured by the caller (it covers tshark too).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path


def pdml_route(capture: Path) -> int:
    """tshark writes every packet as PDML; lxml reads the stream element by element."""
    from lxml import etree

    calls: Counter[str] = Counter()
    streams: Counter[str] = Counter()
    packets = 0
    tshark = subprocess.Popen(["tshark", "-n", "-r", str(capture), "-T", "pdml"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    assert tshark.stdout is not None
    for _, packet in etree.iterparse(tshark.stdout, tag="packet", resolve_entities=False, no_network=True):
        packets += 1
        for field in packet.iter("field"):
            name = field.get("name")
            if name == "sip.Call-ID":
                calls[field.get("show", "")] += 1
            elif name == "rtp.ssrc":
                streams[field.get("show", "")] += 1
        packet.clear()
        while packet.getprevious() is not None:  # what iterparse already handed out
            del packet.getparent()[0]
    tshark.wait()
    return packets


def pyshark_route(capture: Path, limit: int) -> int:
    """pyshark's FileCapture, one packet object at a time."""
    import pyshark

    calls: Counter[str] = Counter()
    streams: Counter[str] = Counter()
    packets = 0
    capture_file = pyshark.FileCapture(str(capture), keep_packets=False)
    try:
        for packet in capture_file:
            packets += 1
            if hasattr(packet, "sip"):
                calls[str(getattr(packet.sip, "call_id", ""))] += 1
            if hasattr(packet, "rtp"):
                streams[str(getattr(packet.rtp, "ssrc", ""))] += 1
            if packets >= limit:
                break
    finally:
        capture_file.close()
    return packets


def main() -> None:
    route, capture = sys.argv[1], Path(sys.argv[2])
    start = time.perf_counter()
    if route == "pdml":
        packets = pdml_route(capture)
    elif route == "pyshark":
        packets = pyshark_route(capture, int(sys.argv[3]))
    else:
        raise SystemExit(f"routes: unknown route {route!r}")
    print(f"{packets} {time.perf_counter() - start:.3f}")


if __name__ == "__main__":
    main()
