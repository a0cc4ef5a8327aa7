"""What happened in a call: transactions, attempts and the outcome.

The one definition of "answered", "final response" and "when the call was
up" that every rule, picture and summary reads. Pure functions over the
model. A transaction is a request and its responses, matched by the top
Via branch and the CSeq method (RFC 3261 17.1.3); a call seen on both sides
of a proxy has one INVITE transaction per leg. An *attempt* is an initial
INVITE (no To tag); a re-INVITE is not an attempt.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import Call, SipMessage

AUTH_CHALLENGES = frozenset({401, 407})


@dataclass(frozen=True)
class Transaction:
    """A request (with its retransmissions) and every response to it."""

    method: str
    cseq: int | None
    branch: str | None
    requests: tuple[SipMessage, ...]  # first copy, then retransmissions; empty if not captured
    responses: tuple[SipMessage, ...]  # in capture order, retransmissions included

    @property
    def request(self) -> SipMessage | None:
        return self.requests[0] if self.requests else None

    @property
    def start(self) -> float:
        first = self.request or self.responses[0]
        return first.time

    @property
    def final(self) -> SipMessage | None:
        """The first final response (the one that ended the transaction)."""
        return next((r for r in self.responses if r.is_final), None)

    @property
    def provisionals(self) -> tuple[SipMessage, ...]:
        return tuple(r for r in self.responses if r.is_provisional and not r.retransmission)

    @property
    def request_retransmissions(self) -> int:
        return sum(1 for r in self.requests if r.retransmission)

    @property
    def final_retransmissions(self) -> int:
        final = self.final
        if final is None:
            return 0
        return sum(1 for r in self.responses if r.retransmission and r.status == final.status)

    @property
    def is_initial_invite(self) -> bool:
        request = self.request
        return self.method == "INVITE" and request is not None and request.to_tag is None

    def frames(self) -> tuple[int, ...]:
        return tuple(sorted({m.frame for m in (*self.requests, *self.responses)}))


@dataclass(frozen=True)
class CallFlow:
    """A call's transactions and what they add up to."""

    call: Call
    transactions: tuple[Transaction, ...]  # in order of their first message
    attempts: tuple[Transaction, ...]  # initial INVITEs (or, when none was captured, INVITE
    #                                    transactions seen only through their responses)
    invite_captured: bool  # at least one initial INVITE request is in the capture
    answer: SipMessage | None  # the first 2xx to an attempt; None: never answered
    decisive: Transaction | None  # the attempt whose outcome is the call's outcome; None without attempts
    final_status: int | None  # status of the call's final response; None if it had none

    @property
    def answered(self) -> bool:
        return self.answer is not None

    def hangup_time(self, capture_end: float) -> float:
        """When the call stopped being up: its first BYE after the answer, else the capture's end (s)."""
        answer = self.answer
        byes = [m.time for m in self.requests("BYE") if answer is None or m.time >= answer.time]
        return min(byes) if byes else capture_end

    def media_window(self, capture_end: float) -> tuple[float, float]:
        """When the call could carry media (s): from its first message until it was hung up; an
        unanswered call until its first BYE, else its last message."""
        times = [m.time for m in self.call.messages]
        start, last = min(times, default=0.0), max(times, default=0.0)
        if self.answered:
            return start, self.hangup_time(capture_end)
        byes = [m.time for m in self.requests("BYE")]
        return start, min(byes) if byes else last

    @property
    def first_invite(self) -> SipMessage | None:
        return next((t.request for t in self.attempts if t.request is not None), None)

    def of_method(self, method: str) -> tuple[Transaction, ...]:
        return tuple(t for t in self.transactions if t.method == method)

    def requests(self, method: str) -> tuple[SipMessage, ...]:
        return tuple(m for m in self.call.messages if m.is_request and m.method == method)

    @property
    def challenges(self) -> tuple[SipMessage, ...]:
        """401/407 finals to attempts, in time order."""
        finals = (t.final for t in self.attempts)
        return tuple(f for f in finals if f is not None and f.status in AUTH_CHALLENGES)

    def ack_for(self, answer: SipMessage) -> SipMessage | None:
        """The first ACK of the 2xx answer's CSeq sent after it."""
        return next(
            (
                m
                for m in self.call.messages
                if m.is_request and m.method == "ACK" and m.cseq == answer.cseq and m.time >= answer.time
            ),
            None,
        )


def _key(message: SipMessage) -> tuple[str, str]:
    method = (message.method if message.is_request else message.cseq_method) or "?"
    if message.branch and message.branch.startswith("z9hG4bK"):
        return (message.branch, method)
    # RFC 2543 peers: no reliable branch; CSeq and tags stand in for it
    return (f"cseq:{message.cseq}:{message.from_tag}:{message.src}>{message.dst}", method)


def transactions(call: Call) -> tuple[Transaction, ...]:
    """Group the call's messages into transactions."""
    requests: dict[tuple[str, str], list[SipMessage]] = {}
    responses: dict[tuple[str, str], list[SipMessage]] = {}
    order: list[tuple[str, str]] = []
    for message in call.messages:
        if message.is_request:
            key = _key(message)
            bucket = requests
        elif message.is_response:
            key = _key(message)
            if key not in requests and not (message.branch or "").startswith("z9hG4bK"):
                # responses of RFC 2543 peers travel the other way: match on CSeq alone
                key = _response_key_without_branch(message, requests) or key
            bucket = responses
        else:
            continue
        if key not in requests and key not in responses:
            order.append(key)
        bucket.setdefault(key, []).append(message)
    result = []
    for key in order:
        reqs = tuple(requests.get(key, ()))
        resps = tuple(responses.get(key, ()))
        first = reqs[0] if reqs else resps[0]
        result.append(
            Transaction(method=key[1], cseq=first.cseq, branch=first.branch, requests=reqs, responses=resps)
        )
    return tuple(result)


def _response_key_without_branch(
    response: SipMessage, requests: dict[tuple[str, str], list[SipMessage]]
) -> tuple[str, str] | None:
    for key, msgs in requests.items():
        first = msgs[0]
        if first.cseq == response.cseq and key[1] == response.cseq_method and first.dst == response.src:
            return key
    return None


def analyse(call: Call) -> CallFlow:
    """Build the call's flow: transactions, attempts, answer and outcome."""
    txs = transactions(call)
    invites = [t for t in txs if t.method == "INVITE"]
    initial = tuple(t for t in invites if t.is_initial_invite)
    invite_captured = bool(initial)
    attempts = initial if initial else tuple(t for t in invites if t.request is None)

    answer = None
    for tx in attempts:
        final = tx.final
        is_2xx = final is not None and final.status is not None and 200 <= final.status < 300
        if is_2xx and (answer is None or final.time < answer.time):  # type: ignore[union-attr]
            answer = final
    decisive: Transaction | None = None
    final_status: int | None = None
    if answer is not None:
        decisive = next(t for t in attempts if t.final is answer)
        final_status = answer.status
    elif attempts:
        with_request = [t for t in attempts if t.request is not None]
        with_final = [t for t in attempts if t.final is not None]
        last_sent = max(with_request, key=lambda t: t.start) if with_request else None
        last_final = max(with_final, key=lambda t: t.final.time) if with_final else None  # type: ignore[union-attr]
        if last_sent is not None and last_sent.final is None and (
            last_final is None or last_sent.start > last_final.final.time  # type: ignore[union-attr]
        ):
            decisive = last_sent
        else:
            decisive = last_final
            final_status = last_final.final.status if last_final and last_final.final else None
    return CallFlow(
        call=call,
        transactions=txs,
        attempts=attempts,
        invite_captured=invite_captured,
        answer=answer,
        decisive=decisive,
        final_status=final_status,
    )
