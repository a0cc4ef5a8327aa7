"""The media view: parties, stream senders, holds, streams shared by several calls."""

from dataclasses import replace

from sipdiag_post.analysis import analyse, analyse_call
from sipdiag_post.analysis.media import CALLEE, CALLER
from sipdiag_post.model import Endpoint, Summary
from tests.builders import CALLEE_MEDIA, CALLER_MEDIA, CallBuilder, facts, hang_up, sdp, stream, talking


def test_stream_senders_are_told_by_sdp_addresses_even_behind_nat():
    natted = stream(Endpoint("192.0.2.99", 40000), CALLER_MEDIA)  # callee's audio, source rewritten
    view = analyse_call(talking().streams(natted).build()).media
    assert view.sender_of(natted) == CALLEE
    assert view.sender_of(stream(CALLER_MEDIA, Endpoint("192.0.2.50", 1))) == CALLER


def test_a_hold_stops_the_held_party_from_sending_only_after_it_completes():
    call = (talking().at(5.0).invite(initial=False, sdp=sdp(CALLER_MEDIA, "8", direction="sendonly"))
            .at(5.1).response(200, sdp=sdp(CALLEE_MEDIA, "8", direction="recvonly")).ack().build())
    view = analyse_call(call).media
    assert view.may_send(CALLEE, 4.0) and not view.may_send(CALLEE, 6.0)
    assert view.may_send(CALLER, 6.0)
    assert view.unexcused(CALLEE, 3.0, 20.0) == (3.0, 5.1)


def test_a_stream_is_shared_with_every_call_whose_sdp_names_it_while_it_flows():
    direct = stream(Endpoint("10.1.1.1", 8000), Endpoint("10.1.1.2", 8000), start=2.0, end=9.0)
    a_leg = hang_up(talking(answer=sdp(Endpoint("10.1.1.1", 8000), "8")).streams(direct)).build()
    b_leg = hang_up(CallBuilder(call_id="b-leg").at(0).invite(sdp=sdp(Endpoint("10.1.1.2", 8000)))
                    .at(0.5).response(200, sdp=sdp(CALLEE_MEDIA, "8")).ack()).build()
    later = (CallBuilder(call_id="later").at(20.0).invite(sdp=sdp(Endpoint("10.1.1.2", 8000)))
             .at(20.5).response(486).build())
    shared = analyse(Summary(facts(duration=30.0), (a_leg, b_leg, later))).summary
    assert [len(c.streams) for c in shared.calls] == [1, 1, 0]
    assert shared.calls[1].streams[0] is direct


def test_unlinked_streams_move_to_the_call_they_belong_to():
    orphan = stream(CALLEE_MEDIA, CALLER_MEDIA)
    call = hang_up(talking()).build()
    shared = analyse(Summary(facts(duration=30.0), (call,), unlinked_streams=(orphan,))).summary
    assert shared.calls[0].streams == (orphan,) and shared.unlinked_streams == ()
    assert replace(shared, unlinked_streams=()) == shared
