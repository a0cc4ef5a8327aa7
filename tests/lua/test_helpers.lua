-- Unit tests for the tap's pure helpers, under plain lua 5.1-5.4:
--   lua5.4 tests/lua/test_helpers.lua lua/sipdiag.lua
-- Prints one line per failure and a count; exits non-zero on any failure.

local M = dofile(arg[1] or "lua/sipdiag.lua")
local checks, failures = 0, 0

local function eq(name, got, want)
  checks = checks + 1
  if got ~= want then
    failures = failures + 1
    print(string.format("FAIL %s: got %q, want %q", name, tostring(got), tostring(want)))
  end
end

local FFFD = "\239\191\189"

-- UTF-8 sanitising
eq("ascii unchanged", M.utf8_sanitize("abc"), "abc")
eq("valid 2/3/4-byte kept", M.utf8_sanitize("\195\169\226\130\172\240\159\152\128"), "\195\169\226\130\172\240\159\152\128")
eq("lone continuation byte", M.utf8_sanitize("a\128b"), "a" .. FFFD .. "b")
eq("overlong NUL", M.utf8_sanitize("\192\128"), FFFD .. FFFD)
eq("surrogate", M.utf8_sanitize("\237\160\128"), FFFD .. FFFD .. FFFD)
eq("truncated sequence at end", M.utf8_sanitize("x\226\130"), "x" .. FFFD .. FFFD)
eq("U+FFFE not allowed in XML", M.utf8_sanitize("\239\191\190"), FFFD .. FFFD .. FFFD)
eq("beyond U+10FFFF", M.utf8_sanitize("\244\144\128\128"), FFFD .. FFFD .. FFFD .. FFFD)
eq("latin-1 byte", M.utf8_sanitize("caf\233"), "caf" .. FFFD)

-- XML attribute escaping
eq("metacharacters", M.xml_attr([[<a href="x">&'</a>]]), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;")
eq("tab, newline, return kept as references", M.xml_attr("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d")
eq("NUL and ESC replaced", M.xml_attr("a\0b\27[31m"), "a" .. FFFD .. "b" .. FFFD .. "[31m")
eq("numbers become text", M.xml_attr(42), "42")

-- name-addr, Via and digest parameters
local na = M.parse_name_addr('"Alice \\"A\\"" <sip:alice@example.com;transport=tcp>;tag=a1b2;other=x')
eq("display", na.display, 'Alice \\"A\\"')
eq("uri keeps uri params", na.uri, "sip:alice@example.com;transport=tcp")
eq("tag", na.tag, "a1b2")
local bare = M.parse_name_addr("sip:bob@example.com;TAG=zz")
eq("addr-spec uri", bare.uri, "sip:bob@example.com")
eq("case-insensitive tag", bare.tag, "zz")
eq("no tag", M.parse_name_addr("<sip:x@y>").tag, nil)
eq("branch of the first Via element", M.via_branch("SIP/2.0/UDP a;Branch=z9hG4bK1;rport, SIP/2.0/UDP b;branch=z9hG4bK2"), "z9hG4bK1")
eq("realm quoted", M.auth_param('Digest realm="carrier.test", nonce="x"', "realm"), "carrier.test")
eq("username quoted", M.auth_param('Digest username="alice",realm="r"', "username"), "alice")

-- a request with compact headers, folding, repeated and X- headers, SDP body
local invite = table.concat({
  "INVITE sip:+15550100@example.com SIP/2.0",
  "v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-abc",
  "f: \"Caller\" <sip:+1555@example.com>;tag=from1",
  "t: <sip:+15550100@example.com>",
  "i: call-1@example.com",
  "CSeq: 7 INVITE",
  "Subject: folded",
  "  continues here",
  "Reason: Q.850;cause=16",
  "Reason: SIP;cause=200",
  "X-Twilio-CallSid: CA123",
  "x-lower: v",
  "User-Agent: Test UA",
  "c: application/sdp",
  "l: 10",
  "",
  "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\n",
}, "\r\n")
local m = M.parse_sip(invite)
eq("kind", m.kind, "request")
eq("method", m.method, "INVITE")
eq("request uri", m.request_uri, "sip:+15550100@example.com")
eq("compact Call-ID", m.call_id, "call-1@example.com")
eq("compact Via branch", m.branch, "z9hG4bK-abc")
eq("CSeq number", m.cseq, 7)
eq("CSeq method", m.cseq_method, "INVITE")
eq("from tag", m.from_addr.tag, "from1")
eq("to without tag", m.to_addr.tag, nil)
eq("two Reason headers", #m.reasons, 2)
eq("X- headers in order", m.xheaders[1].name .. "=" .. m.xheaders[1].value, "X-Twilio-CallSid=CA123")
eq("x- in lower case", m.xheaders[2].name, "x-lower")
eq("user agent", m.user_agent, "Test UA")
eq("SDP found", m.has_sdp, true)

local resp = M.parse_sip("SIP/2.0 486 Busy Here\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nServer: LiveKit\r\n\r\n")
eq("response kind", resp.kind, "response")
eq("status", resp.status, 486)
eq("reason phrase", resp.reason, "Busy Here")
eq("server", resp.server, "LiveKit")
eq("no SDP", resp.has_sdp, false)

local notify = M.parse_sip("NOTIFY sip:a@b SIP/2.0\r\nCall-ID: c\r\nEvent: refer\r\nContent-Type: message/sipfrag;version=2.0\r\n\r\nSIP/2.0 200 OK\r\n")
eq("sipfrag status line", notify.sipfrag, "SIP/2.0 200 OK")
eq("event", notify.event, "refer")

local multipart = M.parse_sip("INVITE sip:a@b SIP/2.0\r\nCall-ID: c\r\nContent-Type: multipart/mixed;boundary=X\r\n\r\n--X\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--X--\r\n")
eq("SDP inside multipart", multipart.has_sdp, true)

-- hostile input never errors and stays bounded
local garbage = M.parse_sip("\0\1\2 not sip at all")
eq("garbage start line", garbage.kind, "unknown")
local huge = M.parse_sip("INVITE sip:a@b SIP/2.0\r\nCall-ID: " .. string.rep("A", 5000) .. "\r\nCSeq: 99999999999999999999 INVITE\r\n\r\n")
eq("long value bounded", #huge.call_id < 1100, true)
eq("long value says it was cut", huge.call_id:find("%[%+3976 bytes%]") ~= nil, true)
eq("absurd CSeq dropped", huge.cseq, nil)
local many = { "INVITE sip:a@b SIP/2.0", "Call-ID: c" }
for i = 1, 100 do many[#many + 1] = "X-H" .. i .. ": v" end
local manyx = M.parse_sip(table.concat(many, "\r\n") .. "\r\n\r\n")
eq("X- headers capped", #manyx.xheaders, 64)
eq("X- headers over the cap counted", manyx.xheaders_dropped, 36)
eq("methods are case-sensitive", M.parse_sip("invite sip:a@b SIP/2.0\r\n\r\n").method, "invite")

-- collecting: retransmissions and non-call methods
local state = M.new_state()
local function add(raw, frame, src)
  local msg = M.parse_sip(raw)
  msg.frame, msg.index, msg.time = frame, 1, frame / 10
  msg.src, msg.dst, msg.src_port, msg.dst_port = src or "10.0.0.1", "10.0.0.2", 5060, 5060
  msg.transport = "UDP"
  M.add_message(state, msg)
end
local inv = "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nCall-ID: k\r\nCSeq: 1 INVITE\r\n\r\n"
add(inv, 1)
add(inv, 2)
add(inv, 3, "10.0.0.9")  -- same message from another address: another leg, not a retransmission
add("OPTIONS sip:a@b SIP/2.0\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\n\r\n", 4)
add("NOTIFY sip:a@b SIP/2.0\r\nCall-ID: n\r\nCSeq: 1 NOTIFY\r\n\r\n", 5)
local cap, calls = M.finish(state)
eq("one call", #calls, 1)
eq("retransmission counted", calls[1].retransmissions, 1)
eq("retransmission flagged", calls[1].msgs[2].retransmission, true)
eq("other leg not a retransmission", calls[1].msgs[3].retransmission, nil)
eq("OPTIONS counted outside calls", cap.other_sip.OPTIONS, 1)
eq("NOTIFY-only Call-ID counted outside calls", cap.other_sip.NOTIFY, 1)
eq("sip messages", cap.sip_messages, 5)

-- SDP
local sdp = M.parse_sdp(table.concat({
  "v=0", "o=- 1 2 IN IP4 198.51.100.1", "c=IN IP4 198.51.100.1", "t=0 0", "a=sendonly",
  "m=audio 4000 RTP/SAVP 8 101", "c=IN IP4 10.0.0.5", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000",
  "a=fmtp:101 0-16", "a=ptime:20", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x", "a=recvonly",
  "m=video 0 RTP/AVP 96",
}, "\r\n"))
eq("sdp session connection", sdp.connection, "198.51.100.1")
eq("sdp session direction", sdp.direction, "sendonly")
eq("sdp media count", #sdp.media, 2)
eq("sdp media connection", sdp.media[1].connection, "10.0.0.5")
eq("sdp media direction", sdp.media[1].direction, "recvonly")
eq("sdp formats", sdp.media[1].formats, "8 101")
eq("sdp rtpmaps", #sdp.media[1].rtpmap, 2)
eq("sdp crypto", sdp.media[1].crypto, true)
eq("sdp ptime", sdp.media[1].ptime, "20")
eq("refused video port", sdp.media[2].port, 0)
eq("rtpmap lookup", select(2, M.rtpmap_of(sdp.media[1], 101)), 8000)
eq("telephone-event has no jitter clock", M.clock_rate(101, "telephone-event", 8000), 0)
eq("static clock", M.clock_rate(9, nil, nil), 8000)
eq("dynamic clock from the rtpmap", M.clock_rate(96, "L16", 16000), 16000)
eq("dynamic clock by name", M.clock_rate(111, "opus", nil), 48000)
local multi = M.parse_sip("INVITE sip:a@b SIP/2.0\r\nCall-ID: c\r\nContent-Type: multipart/mixed;boundary=X\r\n\r\n"
  .. "--X\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 5 RTP/AVP 0\r\n--X--\r\n")
eq("SDP parsed out of a multipart body", multi.sdp.media[1].port, 5)

-- SDP endpoints: UDP that tshark left undecoded is RTP when it goes to (or
-- comes from) an advertised RTP address:port with a listed payload type
local ep_state = M.new_state()
M.note_sdp_endpoints(ep_state, { frame = 80, sdp = sdp })
eq("RTP endpoint remembered with its frame", ep_state.sdp_endpoints["10.0.0.5|4000"].frame, 80)
eq("refused m= line not remembered", ep_state.sdp_endpoints["198.51.100.1|0"], nil)
eq("port set for the cheap test", ep_state.sdp_ports[4000], true)
eq("to the endpoint, listed PT", M.sdp_rtp_endpoint(ep_state, "10.0.0.9", 7, "10.0.0.5", 4000, 0x80, 8).frame, 80)
eq("from the endpoint, marker set", M.sdp_rtp_endpoint(ep_state, "10.0.0.5", 4000, "10.0.0.9", 7, 0x80, 0x80 + 101) ~= nil, true)
eq("unlisted payload type", M.sdp_rtp_endpoint(ep_state, "10.0.0.9", 7, "10.0.0.5", 4000, 0x80, 0), nil)
eq("not version 2 (STUN)", M.sdp_rtp_endpoint(ep_state, "10.0.0.9", 7, "10.0.0.5", 4000, 0x00, 8), nil)
eq("other address", M.sdp_rtp_endpoint(ep_state, "10.0.0.9", 7, "10.0.0.6", 4000, 0x80, 8), nil)

-- RTP: a steady stream, with sequence numbers and timestamps that wrap
local st = M.new_stream(1)
for i = 0, 199 do
  M.rtp_packet(st, 1000 + i * 20, (65500 + i) % 65536, (4294967000 + i * 160) % 4294967296, 8, i == 0, 8000, i + 1)
end
eq("packets", st.packets, 200)
eq("expected across the sequence wrap", M.expected(st), 200)
eq("no jitter on a perfect stream", st.max_jitter, 0)
eq("no reordering", st.out_of_order, 0)
-- loss, a duplicate and a late packet
local lossy = M.new_stream(2)
local seqs = { 1, 2, 3, 5, 6, 6, 8, 7, 9, 10 }
for i, seq in ipairs(seqs) do M.rtp_packet(lossy, i * 20, seq, seq * 160, 0, false, 8000, i) end
eq("expected from first to last", M.expected(lossy), 10)
eq("lost as tshark counts (expected - received)", M.expected(lossy) - lossy.packets, 0)
eq("duplicate found", lossy.duplicates, 1)
eq("late packet found", lossy.out_of_order, 1)
eq("a 4 s silence is the longest gap", (function()
  local g = M.new_stream(3)
  M.rtp_packet(g, 0, 1, 0, 0, false, 8000, 1)
  M.rtp_packet(g, 20, 2, 160, 0, false, 8000, 2)
  M.rtp_packet(g, 4020, 3, 32160, 0, false, 8000, 3)
  return g.gap_max
end)(), 4000)
-- packets per second: one count per second from the stream's first, silent seconds as 0
eq("per-second counts", M.pps_text(st), "50,50,50,50")
eq("first counted second", st.pps_start, 1)
eq("a silent second is a zero", (function()
  local g = M.new_stream(4)
  for _, t in ipairs({ 2500, 2900, 5100 }) do M.rtp_packet(g, t, 1, 0, 0, false, 8000, 1) end
  return g.pps_start .. ":" .. M.pps_text(g)
end)(), "2:2,0,0,1")
eq("a time jump past the bound is counted apart, not filled", (function()
  local g = M.new_stream(5)
  M.rtp_packet(g, 0, 1, 0, 0, false, 8000, 1)
  M.rtp_packet(g, 1e12, 2, 160, 0, false, 8000, 2)
  M.rtp_packet(g, -5000, 3, 320, 0, false, 8000, 3)
  return M.pps_text(g) .. " +" .. g.pps_over
end)(), "1 +2")

-- RTCP: an SR, then a receiver report that refers to it
local function u32(n) return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
                                         math.floor(n / 256) % 256, n % 256) end
local sr = "\128\200\0\6" .. u32(0xAAAA) .. u32(3950000001) .. u32(0x80000000) .. u32(8000) .. u32(50) .. u32(8000)
local sr_packet = M.parse_rtcp(sr)
eq("SR type", sr_packet.pt, 200)
eq("SR NTP middle 32 bits", sr_packet.ntp_mid, (3950000001 % 65536) * 65536 + 0x8000)
local block = u32(0xAAAA) .. "\26\255\255\254" .. u32(1050) .. u32(80) .. u32(sr_packet.ntp_mid) .. u32(13107)
local rr_packet = M.parse_rtcp("\129\201\0\7" .. u32(0xBBBB) .. block)
eq("RR block count", #rr_packet.blocks, 1)
eq("fraction lost", rr_packet.blocks[1].fraction, 26)
eq("negative cumulative loss", rr_packet.blocks[1].cum_lost, -2)
local rtcp_state = { rtcp_sender = {}, rtcp_about = {}, rtcp_xr = {} }
M.add_rtcp(rtcp_state, sr_packet, 10.0, 100)
M.add_rtcp(rtcp_state, rr_packet, 10.9, 120)
local about = rtcp_state.rtcp_about[0xAAAA]
eq("one round trip", about.rtt_n, 1)
eq("round trip = arrival - SR - DLSR", string.format("%.3f", about.rtt_max), "0.700")
eq("round trip frame", about.rtt_max_frame, 120)
eq("short packets are not RTCP", M.parse_rtcp("\128\200"), nil)

print(string.format("%s: %d checks, %d failures", _VERSION, checks, failures))
os.exit(failures == 0 and 0 or 1)
