"""SIP final response codes: what each says about a failed call and where to look.

Written for this project from RFC 3261 and its extensions (RFC 3265, 3329,
3428, 4412, 5079, 6086, 8197, 8224, 8688). Each entry: a short meaning and a
first thing to check.
"""

from __future__ import annotations

RESPONSES: dict[int, tuple[str, str]] = {
    400: ("the request was malformed", "Compare the INVITE with RFC 3261 syntax; a header the peer "
          "cannot parse (often From/To/Contact with odd characters) is the usual cause."),
    401: ("the callee's side wants digest credentials",
          "Configure the username and password the provider issued for this trunk."),
    402: ("payment required", "The provider account has no balance or the route is not paid for."),
    403: ("the request was refused", "See SIP002."),
    404: ("the called user or number does not exist here", "See SIP004."),
    405: ("the method is not allowed", "The peer does not accept this method on this URI."),
    406: ("no acceptable response body", "The Accept header asks for a body type the peer cannot produce."),
    407: ("a proxy wants digest credentials",
          "Configure the username and password the provider issued for this trunk."),
    408: ("the request timed out", "See SIP007."),
    410: ("the number is gone for good", "The number was disconnected; update the destination."),
    412: ("a conditional request failed", "Precondition on the request was not met (RFC 3903)."),
    413: ("the request is too large", "Shorten the SDP (fewer codecs) or move to TCP."),
    414: ("the Request-URI is too long", "Shorten the dialled URI."),
    415: ("the body type is not supported", "The peer cannot read the body's Content-Type (e.g. SDP "
          "in a multipart body)."),
    416: ("the URI scheme is not supported", "Use sip: (or tel: where the peer allows it)."),
    417: ("an unknown resource-priority was asked for", "Remove or fix the Resource-Priority header."),
    420: ("a required extension is not supported", "Drop the option tag from Require, or enable it "
          "on the peer."),
    421: ("the callee requires an extension", "Enable the option tag the Require header names "
          "(often 100rel or timer)."),
    422: ("the session interval is too small", "Raise Session-Expires/Min-SE to the peer's minimum."),
    423: ("the interval is too brief", "Raise the expiry to the value in Min-Expires."),
    428: ("an identity token is required", "The provider wants STIR/SHAKEN Identity on this call."),
    429: ("the referrer identity is required", "Add Referred-By to the REFER."),
    433: ("anonymity is not accepted", "Send a caller ID; the callee rejects anonymous calls."),
    436: ("the identity info is bad", "The STIR/SHAKEN certificate URL could not be fetched."),
    437: ("the identity certificate is not supported", "Use a certificate the verifier accepts."),
    438: ("the identity signature is invalid", "The STIR/SHAKEN signature did not verify; check "
          "the caller ID against the attested number."),
    439: ("the first hop lacks outbound support", "Disable SIP Outbound or use a registrar that "
          "supports it."),
    440: ("the max-breadth was exceeded", "Too much forking; reduce parallel forks."),
    469: ("bad INFO package", "Use an INFO package the peer listed in Recv-Info."),
    470: ("consent is needed", "The target must consent first (RFC 5360)."),
    480: ("the callee is temporarily unavailable", "Not registered, do-not-disturb or no agent "
          "logged in; try again later or check the callee's registration."),
    481: ("the dialog or transaction does not exist", "A request arrived for a dialog the peer has "
          "already forgotten (tags or Call-ID altered by a proxy/ALG, or a late retransmission)."),
    482: ("a loop was detected", "Two proxies route the call to each other; check routing tables."),
    483: ("too many hops", "Max-Forwards ran out; a routing loop or a very long chain."),
    484: ("the address is incomplete", "The dialled number is too short; send the full E.164 number."),
    485: ("the address is ambiguous", "The dialled address matched several users."),
    486: ("the callee is busy", "See SIP005."),
    487: ("the request was terminated", "The caller cancelled (CANCEL) before the call was answered, "
          "often because no one picked up in time."),
    488: ("the offered media is not acceptable", "No codec or media line in the offer suits the "
          "callee; compare the SDP offer with the codecs the callee supports (see SDP003)."),
    489: ("the event package is not supported", "The peer does not support the Event header's package."),
    491: ("a request is pending", "Both sides sent a re-INVITE at once (glare); one side retries later."),
    493: ("the request could not be decrypted", "S/MIME body the peer cannot read."),
    494: ("a security agreement is required", "The peer requires RFC 3329 security agreement."),
    500: ("the server failed internally", "A fault on the peer; its logs tell more. Retry, then "
          "report to its operator."),
    501: ("the method is not implemented", "The peer does not support this method at all."),
    502: ("a gateway got a bad response downstream", "The provider's next hop failed; check provider "
          "status and CDRs."),
    503: ("the service is unavailable", "See SIP006."),
    504: ("a gateway timed out downstream", "The provider's next hop did not answer; check provider "
          "routing for the destination."),
    505: ("the SIP version is not supported", "Send SIP/2.0."),
    513: ("the message is too large", "Send over TCP or shorten the message."),
    555: ("the push notification service is not supported", "Disable push parameters for this peer."),
    580: ("a precondition failed", "The media preconditions of the offer could not be met (RFC 3312)."),
    600: ("the callee is busy everywhere", "All of the callee's devices are busy; retry later."),
    603: ("the callee declined", "The called party (or its service, e.g. spam filtering or call "
          "screening) refused the call; nothing to fix on the signalling path."),
    604: ("the number does not exist anywhere", "The destination is not a valid number; fix the "
          "dialled number."),
    606: ("the call's session is not acceptable", "The callee wants a call but not with this media; "
          "compare offered codecs and media types with what it supports."),
    607: ("the call was marked unwanted", "The callee flagged the call as spam; check the caller ID "
          "reputation and attestation."),
    608: ("the call was rejected by an intermediary", "A network analytics/spam service rejected the "
          "call; the Call-Info header may say who to contact."),
}

_CLASS_MEANING = {
    4: ("the request failed at the callee's side", "The code is not a standard one; the reason "
        "phrase and the peer's logs explain it."),
    5: ("a server on the path failed", "The code is not a standard one; check the provider's "
        "status and CDRs."),
    6: ("the call failed everywhere", "The code is not a standard one; the reason phrase explains it."),
}


def describe(code: int) -> tuple[str, str]:
    """Meaning and first advice for a final response code."""
    if code in RESPONSES:
        return RESPONSES[code]
    return _CLASS_MEANING.get(code // 100, ("an unexpected response", "See the reason phrase."))
