"""`watch --metrics-port`: Prometheus metrics of the calls judged, served over HTTP by prometheus_client.

    sipdiag_calls_total{status="fail",rule="SIP005"}   calls by verdict status and rule ("none" for a pass)
    sipdiag_rtp_streams_total                          RTP streams of the calls judged
    sipdiag_mos                                        histogram of each audio stream's MOS (the E-model,
                                                       adaptive jitter buffer: StreamQuality.mos)
    sipdiag_calls_in_progress                          calls still open when the capture stopped (set at the end)

Its own registry (no process or platform collectors), so what is scraped is what sipdiag counts.
prometheus_client is optional (sipdiag[metrics]); without it MetricsUnavailable names the extra.
"""

from __future__ import annotations

from typing import Any

from .report import CallReport

MOS_BUCKETS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 3.8, 4.0, 4.2, 4.4, 5.0)


class MetricsUnavailable(Exception):
    """prometheus_client is not installed (exit code 4)."""


class MetricsPortError(Exception):
    """The metrics port cannot be served (taken, not allowed: a usage error, exit code 2)."""


class Metrics:
    """The counters of one watch run; `serve` starts the HTTP endpoint (a daemon thread)."""

    def __init__(self) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        except ImportError:
            raise MetricsUnavailable("--metrics-port needs prometheus_client: pip install 'sipdiag[metrics]'") from None
        self.registry: Any = CollectorRegistry(auto_describe=True)
        self._calls = Counter("sipdiag_calls", "Calls judged, by verdict status and rule.", ["status", "rule"],
                              registry=self.registry)
        self._streams = Counter("sipdiag_rtp_streams", "RTP streams of the calls judged.", registry=self.registry)
        self._mos = Histogram("sipdiag_mos", "MOS of each rated audio stream (E-model, adaptive jitter buffer).",
                              buckets=MOS_BUCKETS, registry=self.registry)
        self._open = Gauge("sipdiag_calls_in_progress", "Calls still open when the capture stopped.",
                           registry=self.registry)

    def serve(self, port: int, address: str) -> None:
        from prometheus_client import start_http_server

        try:
            start_http_server(port, addr=address, registry=self.registry)
        except OSError as exc:
            raise MetricsPortError(f"--metrics-port {port}: cannot listen on {address or '*'}: "
                                     f"{exc.strerror or exc}") from None

    def add(self, call: CallReport) -> None:
        self._calls.labels(status=call.verdict.status.value, rule=call.verdict.rule or "none").inc()
        if call.analysis is None:
            return
        self._streams.inc(len(call.analysis.call.streams))
        for quality in call.analysis.quality:
            if quality.mos is not None:
                self._mos.observe(quality.mos)

    def in_progress(self, count: int) -> None:
        self._open.set(count)
