"""The ITU-T G.107 E-model for one audio stream, explained term by term.

    R = Ro - Is - Id - Ie,eff + A          (G.107 clause 7.1)
    MOS = 1 + 0.035 R + R (R - 60) (100 - R) 7e-6   (G.107 Annex B)

Every term is computed from G.107 itself, not from the shortcut "93.2 - Id -
Ie,eff": with the default inputs of G.107 Table 3 the model gives R = 93.2
for G.711 and nothing else wrong. A stream's own facts enter in three places:

- the codec, through its equipment impairment Ie and packet-loss robustness
  Bpl from ITU-T G.113 Appendix I (``CODECS``); a codec G.113 gives no values
  for is said, never guessed (``NotRated``);
- the packets not played: lost in the network or too late for the jitter
  buffer, and how bursty that loss was (``loss_pattern``: BurstR from the loss
  run lengths, G.107 clause 7.5);
- the mouth-to-ear delay: network one-way delay (measured, or a stated
  assumption) + packetisation and codec look-ahead + the jitter buffer.

Pure: standard library only, nothing from the package. docs/emodel.md lists
every constant with its source and what is approximate.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

# --- G.107 clause 7: the model ----------------------------------------------


@dataclass(frozen=True)
class G107Inputs:
    """The E-model's inputs; the defaults are G.107 Table 3 (clause 7.7)."""

    slr: float = 8.0  # send loudness rating, dB
    rlr: float = 2.0  # receive loudness rating, dB
    stmr: float = 15.0  # sidetone masking rating, dB
    lstr: float = 18.0  # listener sidetone rating, dB (= STMR + Dr)
    ds: float = 3.0  # D-value of the telephone, send side
    dr: float = 3.0  # D-value, receive side: enters the model only through LSTR
    telr: float = 65.0  # talker echo loudness rating, dB
    wepl: float = 110.0  # weighted echo path loss, dB
    t: float = 0.0  # mean one-way delay of the echo path, ms
    tr: float = 0.0  # round-trip delay in a 4-wire loop, ms
    ta: float = 0.0  # absolute (mouth-to-ear) one-way delay, ms
    qdu: float = 1.0  # quantizing distortion units
    ie: float = 0.0  # equipment impairment factor
    bpl: float = 4.3  # packet-loss robustness factor
    ppl: float = 0.0  # random packet-loss probability, %
    burst_r: float = 1.0  # burst ratio (1: random loss)
    nc: float = -70.0  # circuit noise referred to the 0 dBr point, dBm0p
    nfor: float = -64.0  # noise floor at the receive side, dBmp
    ps: float = 35.0  # room noise at the send side, dB(A)
    pr: float = 35.0  # room noise at the receive side, dB(A)
    a: float = 0.0  # advantage factor
    mt: float = 100.0  # minimum perceivable delay, ms (G.107 06/2015 Table 1, default class)
    st: float = 1.0  # delay sensitivity (same table, default class)


@dataclass(frozen=True)
class G107Terms:
    """Every intermediate of one E-model computation."""

    no: float  # total noise power No, dBm0p (clause 7.2)
    ro: float  # basic signal-to-noise ratio Ro (clause 7.2)
    iolr: float  # impairment from too-low overall loudness (clause 7.3)
    ist: float  # impairment from non-optimum sidetone (clause 7.3)
    iq: float  # impairment from quantizing distortion (clause 7.3)
    is_: float  # simultaneous impairment Is = Iolr + Ist + Iq (clause 7.3)
    idte: float  # talker echo impairment (clause 7.4)
    idle: float  # listener echo impairment (clause 7.4)
    idd: float  # impairment from absolute delay Ta (clause 7.4)
    id_: float  # delay impairment Id = Idte + Idle + Idd (clause 7.4)
    ie_eff: float  # effective equipment impairment (clause 7.5)
    a: float  # advantage factor (clause 7.6)
    r: float  # transmission rating R (clause 7.1)


def _log10(x: float) -> float:
    return math.log10(x)


def noise_and_ro(p: G107Inputs) -> tuple[float, float]:
    """No and Ro = 15 - 1.5 (SLR + No), G.107 clause 7.2."""
    olr = p.slr + p.rlr
    nos = p.ps - p.slr - p.ds - 100 + 0.004 * (p.ps - olr - p.ds - 14) ** 2
    pre = p.pr + 10 * _log10(1 + 10 ** ((10 - p.lstr) / 10))
    nor = p.rlr - 121 + pre + 0.008 * (pre - 35) ** 2
    nfo = p.nfor + p.rlr
    no = 10 * _log10(10 ** (p.nc / 10) + 10 ** (nos / 10) + 10 ** (nor / 10) + 10 ** (nfo / 10))
    return no, 15 - 1.5 * (p.slr + no)


def sidetone_impairment(p: G107Inputs) -> float:
    """Ist from STMRo, G.107 clause 7.3."""
    stmro = -10 * _log10(10 ** (-p.stmr / 10) + math.exp(-p.t / 4) * 10 ** (-p.telr / 10))
    return (12 * (1 + ((stmro - 13) / 6) ** 8) ** (1 / 8)
            - 28 * (1 + ((stmro + 1) / 19.4) ** 35) ** (1 / 35)
            - 13 * (1 + ((stmro - 3) / 33) ** 13) ** (1 / 13)
            + 29)


def loudness_impairment(p: G107Inputs, no: float) -> float:
    """Iolr, G.107 clause 7.3."""
    xolr = p.slr + p.rlr + 0.2 * (64 + no - p.rlr)
    return 20 * ((1 + (xolr / 8) ** 8) ** (1 / 8) - xolr / 8)


def quantizing_impairment(p: G107Inputs, ro: float) -> float:
    """Iq from qdu, G.107 clause 7.3."""
    q = 37 - 15 * _log10(p.qdu)
    g = 1.07 + 0.258 * q + 0.0602 * q * q
    y = (ro - 100) / 15 + 46 / 8.4 - g / 9
    z = 46 / 30 - g / 40
    return 15 * _log10(1 + 10 ** y + 10 ** z)


def talker_echo_impairment(p: G107Inputs, no: float, ist: float) -> float:
    """Idte, G.107 clause 7.4 (TERVs below STMR 9 dB, Idtes above 20 dB)."""
    terv = p.telr - 40 * _log10((1 + p.t / 10) / (1 + p.t / 150)) + 6 * math.exp(-0.3 * p.t * p.t)
    if p.stmr < 9:
        terv += ist / 2
    roe = -1.5 * (no - p.rlr)
    re = 80 + 2.5 * (terv - 14)
    d = roe - re
    idte = (d / 2 + math.sqrt(d * d / 4 + 100) - 1) * (1 - math.exp(-p.t))
    if p.stmr > 20:
        idte = math.sqrt(idte * idte + ist * ist)
    return idte


def listener_echo_impairment(p: G107Inputs, ro: float) -> float:
    """Idle, G.107 clause 7.4."""
    rle = 10.5 * (p.wepl + 7) * (p.tr + 1) ** -0.25
    d = ro - rle
    return d / 2 + math.sqrt(d * d / 4 + 169)


def delay_impairment(ta: float, mt: float = 100.0, st: float = 1.0) -> float:
    """Idd from the absolute one-way delay Ta (ms), G.107 clause 7.4.

    0 up to mT; above, 25 ((1 + X^6sT)^(1/6sT) - 3 (1 + (X/3)^6sT)^(1/6sT) + 2)
    with X = log2(Ta / mT). With the default class (mT 100 ms, sT 1) this is
    the classic 25 ((1 + X^6)^(1/6) - 3 (1 + (X/3)^6)^(1/6) + 2).
    """
    if ta <= mt:
        return 0.0
    x = math.log10(ta / mt) / math.log10(2)
    e = 6 * st
    return 25 * ((1 + x ** e) ** (1 / e) - 3 * (1 + (x / 3) ** e) ** (1 / e) + 2)


def effective_ie(ie: float, bpl: float, ppl: float, burst_r: float = 1.0) -> float:
    """Ie,eff = Ie + (95 - Ie) Ppl / (Ppl / BurstR + Bpl), G.107 clause 7.5 (Ppl in %)."""
    if ppl <= 0:
        return ie
    return ie + (95 - ie) * ppl / (ppl / burst_r + bpl)


@functools.lru_cache(maxsize=1024)
def rate(p: G107Inputs) -> G107Terms:
    """The full E-model: every term of R for one set of inputs (remembered: the streams of a capture share
    few sets, every loss-free one of a codec, packetisation and delay the same)."""
    no, ro = noise_and_ro(p)
    ist = sidetone_impairment(p)
    iolr = loudness_impairment(p, no)
    iq = quantizing_impairment(p, ro)
    is_ = iolr + ist + iq
    idte = talker_echo_impairment(p, no, ist)
    idle = listener_echo_impairment(p, ro)
    idd = delay_impairment(p.ta, p.mt, p.st)
    id_ = idte + idle + idd
    ie_eff = effective_ie(p.ie, p.bpl, p.ppl, p.burst_r)
    r = ro - is_ - id_ - ie_eff + p.a
    return G107Terms(no=no, ro=ro, iolr=iolr, ist=ist, iq=iq, is_=is_, idte=idte, idle=idle, idd=idd,
                     id_=id_, ie_eff=ie_eff, a=p.a, r=r)


def mos_from_r(r: float) -> float:
    """MOS (conversational, CQE) from R, G.107 Annex B.

    1 below R 0, 4.5 above R 100, else 1 + 0.035 R + R (R - 60) (100 - R) 7e-6.
    The cubic dips below 1 for 0 < R < 6.5; it is held at 1 there.
    """
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return max(1.0, 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6)


# --- G.113 Appendix I: codec values ------------------------------------------


@dataclass(frozen=True)
class CodecValues:
    """What G.113 Appendix I gives one narrowband codec (packet loss: random)."""

    name: str  # as said in explanations, e.g. "G.711 with PLC"
    ie: float  # equipment impairment factor Ie (G.113 Appendix I, Ie table)
    bpl: float | None  # packet-loss robustness Bpl (Appendix I, Bpl table); None: G.113 gives none
    lookahead_ms: float  # algorithmic look-ahead added to the packetisation delay, ms
    source: str  # the G.113 rows the values come from


# G.113 Appendix I has two tables: Ie per codec (Table I.1) and Bpl per codec,
# packet size and loss concealment ("Table I.3" in the 11/2007 edition,
# "Table I.4" in 09/2024). Rows quoted as G.113 names them.
G711_PLC = CodecValues(
    "G.711 with PLC", 0.0, 25.1, 0.0,
    "G.113 App. I: Ie table row 'PCM G.711 64 kbit/s' (Ie 0); Bpl table row 'G.711, 10 ms, "
    "PLC as in G.711 Appendix I, random loss' (Bpl 25.1)")
G711_NO_PLC = CodecValues(
    "G.711 without PLC", 0.0, 4.3, 0.0,
    "G.113 App. I: Ie table row 'PCM G.711 64 kbit/s' (Ie 0); Bpl table row 'G.711, 10 ms, PLC none, "
    "random loss' (Bpl 4.3, also G.107 Table 3's default Bpl)")
G729A_VAD = CodecValues(
    "G.729A+VAD", 11.0, 19.0, 5.0,
    "G.113 App. I: Ie table row 'CS-ACELP G.729A + VAD 8 kbit/s' (Ie 11); Bpl table row 'G.729A + VAD, "
    "2 x 10 ms' (Bpl 19.0); used for every G.729 stream, the only G.729 row with a Bpl")
G723_VAD = CodecValues(
    "G.723.1+VAD 6.3 kbit/s", 15.0, 16.1, 7.5,
    "G.113 App. I: Ie table row 'MP-MLQ G.723.1 6.3 kbit/s' (Ie 15); Bpl table row 'G.723.1 + VAD, "
    "6.3 kbit/s, 30 ms' (Bpl 16.1); the 6.3 kbit/s rate is assumed (5.3 kbit/s: Ie 19, no Bpl)")
GSM_EFR = CodecValues(
    "GSM-EFR", 5.0, 10.0, 0.0,
    "G.113 App. I: Ie table row 'ACELP GSM 06.60 12.2 kbit/s' (Ie 5); Bpl table row 'GSM-EFR, 20 ms' (Bpl 10)")
GSM_FR = CodecValues(
    "GSM 06.10 full rate", 20.0, None, 0.0,
    "G.113 App. I: Ie table row 'RPE-LTP GSM 06.10 13 kbit/s' (Ie 20); no Bpl row")
G728 = CodecValues("G.728 16 kbit/s", 7.0, None, 0.0,
                   "G.113 App. I: Ie table row 'LD-CELP G.728 16 kbit/s' (Ie 7); no Bpl row")


def _g726(kbps: int, ie: float) -> CodecValues:
    return CodecValues(f"G.726 {kbps} kbit/s", ie, None, 0.0,
                       f"G.113 App. I: Ie table row 'ADPCM G.726 {kbps} kbit/s' (Ie {ie:g}); no Bpl row")


# RTP encoding names (lower case, dots and spaces removed) -> G.113 values.
# G.711 is looked up separately: its Bpl depends on the receiver's PLC.
CODECS: Mapping[str, CodecValues] = {
    **dict.fromkeys(("g729", "g729a", "g729b", "g729ab", "g729d", "g729e"), G729A_VAD),
    **dict.fromkeys(("g723", "g7231"), G723_VAD),
    **dict.fromkeys(("gsm-efr", "gsmefr"), GSM_EFR),
    "gsm": GSM_FR,
    "g728": G728,
    **dict.fromkeys(("g726-40", "aal2-g726-40"), _g726(40, 2.0)),
    **dict.fromkeys(("g726-32", "aal2-g726-32", "g721"), _g726(32, 7.0)),
    **dict.fromkeys(("g726-24", "aal2-g726-24"), _g726(24, 25.0)),
    **dict.fromkeys(("g726-16", "aal2-g726-16"), _g726(16, 50.0)),
}
G711_NAMES = frozenset({"pcmu", "pcma", "g711", "g711u", "g711a", "g711mu"})
# wideband (50-7000 Hz) and wider codecs: G.107 is narrowband; see docs/emodel.md
WIDEBAND: Mapping[str, str] = {
    "g722": "G.722", "g7221": "G.722.1", "g7222": "G.722.2", "amr-wb": "AMR-WB", "evs": "EVS", "opus": "Opus",
}
NOT_SPEECH = frozenset({"telephone-event", "cn", "red", "ulpfec", "rtx"})


def _key(codec: str) -> str:
    return codec.split("/")[0].strip().lower().replace(".", "").replace(" ", "").replace("_", "-")


@dataclass(frozen=True)
class NotRated:
    """No E-model figure for this stream, and why."""

    codec: str  # the codec name as given
    reason: str  # one sentence, e.g. "no G.113 values for codec iLBC"

    def explain(self) -> str:
        return f"no MOS: {self.reason}"


def codec_values(codec: str, *, plc: bool = True) -> CodecValues | NotRated:
    """G.113 values for an RTP encoding name (``PCMU``, ``G729``, ``GSM`` ...), or why there are none.

    ``plc``: whether the receiver conceals lost G.711 packets (it picks the
    G.711 Bpl row; other codecs conceal by design).
    """
    key = _key(codec)
    if key in G711_NAMES:
        return G711_PLC if plc else G711_NO_PLC
    if key in CODECS:
        return CODECS[key]
    if key in NOT_SPEECH:
        return NotRated(codec, f"{codec} is not a speech codec")
    if key in WIDEBAND:
        return NotRated(codec, f"{WIDEBAND[key]} carries wideband (or wider) audio: the narrowband E-model "
                               "(G.107) has no Ie for it, and G.107.1's wideband scale is not comparable "
                               "(docs/emodel.md)")
    return NotRated(codec, f"no G.113 values for codec {codec}")


# --- loss: rate and burstiness -----------------------------------------------


@dataclass(frozen=True)
class LossPattern:
    """Packets not played out and how they clustered (G.107 clause 7.5)."""

    expected: int  # packets the stream should have delivered
    unplayed: int  # lost in the network plus too late for the jitter buffer
    runs: int  # loss runs (bursts of consecutive unplayed packets) counted
    ppl: float  # packet-loss percentage, 100 unplayed / expected
    p: float  # P(lost | previous played)
    q: float | None  # P(played | previous lost); None when nothing was lost
    burst_r: float  # BurstR = 1 / (p + q), held at 1 or more
    burst_r_raw: float  # BurstR before holding it at 1 (below 1: losses more spread than random)


def loss_pattern(expected: int, unplayed: int, runs: Mapping[int, int] | None = None) -> LossPattern:
    """Ppl and BurstR from counts, with the two-state Markov model of G.107 clause 7.5.

    ``runs`` maps a run length (consecutive unplayed packets) to how many such
    runs the stream had. With k runs holding n packets in all (n = sum of
    length x count), received = expected - unplayed and P = unplayed / expected:

        q = k / n                 the chance that a lost packet is the last of its run
        p = q P / (1 - P)         the stationary condition P = p / (p + q); equals
                                  k / received when n = unplayed (the counts agree)
        BurstR = 1 / (p + q) = (1 - P) n / k   mean run length / the mean for random loss

    Edge cases: no loss -> p 0, BurstR 1. No runs given while packets were lost
    -> random loss assumed (p = P, q = 1 - P, BurstR 1). Every packet lost ->
    p 1 (the packet before the stream counts as played), q 0, BurstR 1.
    BurstR below 1 (isolated losses, more spread than random) is held at 1:
    G.107 defines BurstR 1 for random loss and above 1 for bursty loss.
    """
    if expected <= 0:
        raise ValueError("expected must be positive")
    if not 0 <= unplayed <= expected:
        raise ValueError("unplayed must be between 0 and expected")
    share = unplayed / expected
    runs = {length: count for length, count in (runs or {}).items() if length > 0 and count > 0}
    k = sum(runs.values())
    if unplayed == 0:
        p, q, raw, k = 0.0, None, 1.0, 0
    elif unplayed == expected:
        p, q, raw = 1.0, 0.0, 1.0
    elif k == 0:
        p, q, raw = share, 1 - share, 1.0
    else:
        n = sum(length * count for length, count in runs.items())
        q = k / n
        p = q * share / (1 - share)
        raw = 1 / (p + q)
    return LossPattern(expected=expected, unplayed=unplayed, runs=k, ppl=100 * share, p=p, q=q,
                       burst_r=max(1.0, raw), burst_r_raw=raw)


# --- jitter buffer -----------------------------------------------------------


@dataclass(frozen=True)
class FixedBuffer:
    """A jitter buffer of constant depth: it adds ``size_ms`` of delay and drops
    every packet later than that (VoIPmonitor simulates 50 ms and 200 ms ones)."""

    size_ms: float = 60.0

    @property
    def model(self) -> str:
        return "fixed"

    def size(self, jitter_ms: float | None = None) -> float:
        return self.size_ms


@dataclass(frozen=True)
class AdaptiveBuffer:
    """A jitter buffer that follows the jitter: depth = ``factor`` x the stream's
    RFC 3550 interarrival jitter, held between ``min_ms`` and ``max_ms`` (500 ms
    is the ceiling of VoIPmonitor's adaptive simulation). A stated heuristic,
    not a packet-by-packet simulation: the tap supplies late counts per depth."""

    factor: float = 2.0
    min_ms: float = 20.0
    max_ms: float = 500.0

    @property
    def model(self) -> str:
        return "adaptive"

    def size(self, jitter_ms: float | None = None) -> float:
        if jitter_ms is None:
            raise ValueError("an adaptive jitter buffer needs the stream's jitter")
        return min(self.max_ms, max(self.min_ms, self.factor * jitter_ms))


@dataclass(frozen=True)
class SettledBuffer:
    """An adaptive jitter buffer at the depth it settles on for one stream. The caller picks the
    depth (analysis/quality.py: of the depths the tap counted late packets for, the one that gives
    the stream its best R, the trade of added delay against late loss a good adaptive buffer makes);
    the tap's late counts are the stream's measured delay variation, so the depth follows how the
    packets really arrived, not a rule of thumb applied to the RFC 3550 mean."""

    size_ms: float

    @property
    def model(self) -> str:
        return "adaptive"

    def size(self, jitter_ms: float | None = None) -> float:
        return self.size_ms


JitterBuffer = FixedBuffer | AdaptiveBuffer | SettledBuffer
DEFAULT_BUFFER = FixedBuffer(60.0)


def late_packets(late_by_buffer_ms: Mapping[float, int] | None, size_ms: float) -> tuple[int, float | None]:
    """Packets too late for a buffer of ``size_ms``, from the tap's counts per buffer depth.

    Returns (count, the depth it was measured at). The exact depth when the tap
    measured it, else the largest measured depth below (an upper bound: a
    smaller buffer drops at least as many), else the smallest above (a lower
    bound); (0, None) when nothing was measured.
    """
    if not late_by_buffer_ms:
        return 0, None
    depths = sorted(late_by_buffer_ms)
    below = [d for d in depths if d <= size_ms]
    depth = below[-1] if below else depths[0]
    return max(0, late_by_buffer_ms[depth]), depth


# --- one stream --------------------------------------------------------------

# Assumed network one-way delay when none was measured: G.107's default Ta is 0,
# so only the delay the receiver itself adds (packetisation, look-ahead, buffer)
# is counted. This understates Id on long paths; the result says so.
ASSUMED_NETWORK_DELAY_MS = 0.0


@dataclass(frozen=True)
class Rating:
    """The E-model figure for one stream, with every term behind it."""

    codec: str  # the G.113 row used, e.g. "G.711 with PLC"
    codec_source: str  # the G.113 rows cited
    mos: float  # MOS (conversational, G.107 Annex B)
    r: float  # R = Ro - Is - Id - Ie,eff + A
    ro: float  # basic signal-to-noise ratio
    is_: float  # simultaneous impairment
    id_: float  # delay impairment Idte + Idle + Idd
    idte: float  # talker echo part of Id
    idle: float  # listener echo part of Id
    idd: float  # absolute delay part of Id
    ie: float  # codec equipment impairment (G.113)
    bpl: float | None  # codec packet-loss robustness (G.113); None only when nothing was lost
    ppl: float  # % of expected packets not played (lost + late)
    burst_r: float  # burst ratio used
    p: float  # P(lost | previous played)
    q: float | None  # P(played | previous lost); None when nothing was lost
    ie_eff: float  # effective equipment impairment
    a: float  # advantage factor
    delay_ms: float  # Ta: the mouth-to-ear delay used, ms
    network_delay_ms: float  # its network part, ms
    delay_measured: bool  # the network part was measured (else ASSUMED_NETWORK_DELAY_MS)
    codec_delay_ms: float  # its packetisation + look-ahead part, ms
    buffer_model: str  # "fixed" or "adaptive"
    buffer_ms: float  # jitter buffer depth, ms (its delay part)
    expected: int  # packets expected
    lost: int  # lost in the network (a negative count, duplicates, read as 0)
    late: int  # arrived too late for the buffer, counted as lost
    late_measured_at_ms: float | None  # buffer depth the late count was taken at; None: not measured

    def explain(self) -> str:
        """One line: the figure and the terms that cost the most, with their causes."""
        if self.ppl <= 0:
            loss = f"no loss ({self.codec}, Ie {self.ie:g})"
        else:
            kind = "random loss" if f"{self.burst_r:.1f}" == "1.0" else "loss in bursts"
            if self.late and not self.lost:
                kind = "packets too late (none lost)"
            late = ""
            if self.late:
                at = ("" if self.late_measured_at_ms == self.buffer_ms
                      else f", counted at {self.late_measured_at_ms:g} ms")
                late = f"; {self.late} late for the buffer{at}"
            loss = (f"Ie,eff {self.ie_eff:.1f} from {self.ppl:.1f} % {kind} (BurstR {self.burst_r:.1f}, "
                    f"Bpl {self.bpl:g}, {self.codec}, Ie {self.ie:g}{late})")
        network = (f"network {self.network_delay_ms:.0f} ms" if self.delay_measured
                   else f"network {self.network_delay_ms:.0f} ms assumed, not measured")
        delay = (f"Id {self.id_:.1f} from {self.delay_ms:.0f} ms one-way delay ({network}; "
                 f"{self.codec_delay_ms:.0f} ms packetisation; {self.buffer_ms:.0f} ms {self.buffer_model} "
                 "jitter buffer)")
        return f"MOS {self.mos:.2f} (R {self.r:.1f}): {loss}, {delay}"


def rate_stream(
    codec: str,
    expected: int,
    lost: int,
    loss_runs: Mapping[int, int] | None = None,
    *,
    plc: bool = True,
    ptime_ms: float = 20.0,
    network_delay_ms: float | None = None,
    jitter_ms: float | None = None,
    buffer: JitterBuffer = DEFAULT_BUFFER,
    late_by_buffer_ms: Mapping[float, int] | None = None,
) -> Rating | NotRated:
    """The E-model figure for one audio stream, or why there is none.

    codec: RTP encoding name. expected / lost: the stream's packet counts (the
    tap's; a negative lost is read as 0). loss_runs: run length -> number of
    runs of consecutive lost packets. plc: the receiver conceals G.711 loss.
    ptime_ms: packetisation. network_delay_ms: measured network one-way delay
    (e.g. RTCP round trip / 2), None when not measured. jitter_ms: the stream's
    RFC 3550 jitter (sizes an adaptive buffer). late_by_buffer_ms: buffer depth
    -> packets too late for it; they count as lost, as isolated losses (runs of
    one: the tap reports how many, not where).

    The delay is Ta = network + ptime + look-ahead + buffer; T (echo path) = Ta
    and Tr (4-wire loop) = 2 Ta; every other input is G.107's default.
    """
    values = codec_values(codec, plc=plc)
    if isinstance(values, NotRated):
        return values
    if expected <= 0:
        return NotRated(codec, "no packets expected: nothing to rate")
    lost = min(max(0, lost), expected)
    buffer_ms = buffer.size(jitter_ms)
    late, late_at = late_packets(late_by_buffer_ms, buffer_ms)
    late = min(late, expected - lost)
    runs = dict(loss_runs or {})
    if late:
        runs[1] = runs.get(1, 0) + late
    loss = loss_pattern(expected, lost + late, runs if loss_runs or late else None)
    if loss.ppl > 0 and values.bpl is None:
        return NotRated(codec, f"G.113 gives {values.name} an Ie ({values.ie:g}) but no Bpl, so "
                               f"{loss.ppl:.1f} % loss cannot be rated")
    measured = network_delay_ms is not None
    network = network_delay_ms if network_delay_ms is not None else ASSUMED_NETWORK_DELAY_MS
    codec_delay = ptime_ms + values.lookahead_ms
    ta = network + codec_delay + buffer_ms
    bpl = values.bpl if values.bpl is not None else 1.0  # unused: a codec without Bpl gets here only loss-free
    terms = rate(G107Inputs(t=ta, tr=2 * ta, ta=ta, ie=values.ie, bpl=bpl, ppl=loss.ppl, burst_r=loss.burst_r))
    return Rating(
        codec=values.name, codec_source=values.source, mos=mos_from_r(terms.r), r=terms.r, ro=terms.ro,
        is_=terms.is_, id_=terms.id_, idte=terms.idte, idle=terms.idle, idd=terms.idd, ie=values.ie,
        bpl=values.bpl, ppl=loss.ppl, burst_r=loss.burst_r, p=loss.p, q=loss.q, ie_eff=terms.ie_eff, a=terms.a,
        delay_ms=ta, network_delay_ms=network, delay_measured=measured, codec_delay_ms=codec_delay,
        buffer_model=buffer.model, buffer_ms=buffer_ms, expected=expected, lost=lost, late=late,
        late_measured_at_ms=late_at,
    )
