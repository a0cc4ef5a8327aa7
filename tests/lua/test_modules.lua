-- Unit tests for the tap's sipdiag.* modules, under plain lua 5.1-5.4:
--   lua5.4 tests/lua/test_modules.lua lua/
-- One group per module, each declared with the number of checks it runs
-- (tests/lua/testlib.lua); prints one line per group and exits non-zero
-- unless every group ran all its checks and they passed.

local lua_dir = arg[1] or "lua/"
if lua_dir:sub(-1) ~= "/" then lua_dir = lua_dir .. "/" end
package.path = lua_dir .. "?.lua;" .. package.path
local testlib = dofile((arg[0]:match("^(.*[/\\])") or "./") .. "testlib.lua")

local MODULES = { "text", "sip", "sdp", "rtp", "rtcp", "pdml", "state", "brief", "frame" }

local t = testlib.plan({
  { "isolation", 5 * #MODULES + 1 },
  { "text", 24 },
  { "sip", 57 },
  { "sdp", 18 },
  { "rtp", 37 },
  { "rtcp", 9 },
  { "state", 56 },
  { "pdml", 7 },
  { "brief", 13 },
  { "frame", 12 },
})

-- Each module loads on its own as a module and as Wireshark's plugin loader
-- runs it (a plain chunk, no arguments): it returns a table and touches no global.
t:group("isolation", function()
  local function globals()
    local names = {}
    for name in pairs(_G) do names[#names + 1] = tostring(name) end
    table.sort(names)
    return table.concat(names, " ")
  end
  local before = globals()
  for _, name in ipairs(MODULES) do
    for loaded in pairs(package.loaded) do
      if tostring(loaded):find("^sipdiag%.") then package.loaded[loaded] = nil end
    end
    local module = require("sipdiag." .. name)
    t:eq(name .. " required: a table", type(module), "table")
    t:eq(name .. " required: no global set", globals(), before)
    local chunk = assert(loadfile(lua_dir .. "sipdiag/" .. name .. ".lua"))
    local ok, as_plugin = pcall(chunk)
    t:ok(name .. " run as a plugin: no error", ok, tostring(as_plugin))
    t:eq(name .. " run as a plugin: a table", type(as_plugin), "table")
    t:eq(name .. " run as a plugin: no global set", globals(), before)
  end
  -- one source of each bound: only the module that enforces a bound declares it
  local owners = {}
  for _, name in ipairs(MODULES) do
    for key in pairs(require("sipdiag." .. name)) do
      if tostring(key):find("^MAX_") then owners[key] = (owners[key] and owners[key] .. "," or "") .. name end
    end
  end
  local twice = {}
  for key, where in pairs(owners) do
    if where:find(",") then twice[#twice + 1] = key .. " in " .. where end
  end
  t:eq("each bound declared by one module", table.concat(twice, "; "), "")
end)

local text = require("sipdiag.text")
local sip = require("sipdiag.sip")
local sdp = require("sipdiag.sdp")
local rtp = require("sipdiag.rtp")
local rtcp = require("sipdiag.rtcp")
local pdml = require("sipdiag.pdml")
local state_m = require("sipdiag.state")
local brief = require("sipdiag.brief")
local frame = require("sipdiag.frame")

local FFFD = "\239\191\189"

t:group("text", function()
  t:eq("ascii unchanged", text.utf8_sanitize("abc"), "abc")
  t:eq("valid 2/3/4-byte kept", text.utf8_sanitize("\195\169\226\130\172\240\159\152\128"),
       "\195\169\226\130\172\240\159\152\128")
  t:eq("lone continuation byte", text.utf8_sanitize("a\128b"), "a" .. FFFD .. "b")
  t:eq("overlong NUL", text.utf8_sanitize("\192\128"), FFFD .. FFFD)
  t:eq("surrogate", text.utf8_sanitize("\237\160\128"), FFFD .. FFFD .. FFFD)
  t:eq("truncated sequence at end", text.utf8_sanitize("x\226\130"), "x" .. FFFD .. FFFD)
  t:eq("U+FFFE not allowed in XML", text.utf8_sanitize("\239\191\190"), FFFD .. FFFD .. FFFD)
  t:eq("beyond U+10FFFF", text.utf8_sanitize("\244\144\128\128"), FFFD .. FFFD .. FFFD .. FFFD)
  t:eq("latin-1 byte", text.utf8_sanitize("caf\233"), "caf" .. FFFD)
  t:eq("metacharacters", text.xml_attr([[<a href="x">&'</a>]]), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;")
  t:eq("tab, newline, return kept as references", text.xml_attr("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d")
  t:eq("NUL and ESC replaced", text.xml_attr("a\0b\27[31m"), "a" .. FFFD .. "b" .. FFFD .. "[31m")
  t:eq("numbers become text", text.xml_attr(42), "42")
  t:eq("trim", text.trim(" \t a b \r\n"), "a b")
  t:eq("trim: nothing to trim, all white space, empty", text.trim("a b") .. "|" .. text.trim(" \v\f\r ") .. "|"
       .. text.trim(""), "a b||")
  t:eq("trim: white space at one end only", text.trim("\fa ") .. "|" .. text.trim("a\v") .. "|" .. text.trim(" a"),
       "a|a|a")
  local long = text.bounded(string.rep("A", text.MAX_VALUE_BYTES + 7))
  t:eq("bounded to MAX_VALUE_BYTES, saying how much was cut",
       long, string.rep("A", text.MAX_VALUE_BYTES) .. "...[+7 bytes]")
  t:eq("short values unchanged", text.bounded("abc"), "abc")
  -- identifiers: distinct bytes stay distinct text, and the escape can be undone
  t:eq("plain id unchanged", text.escape_id("a-1@example.com"), "a-1@example.com")
  t:eq("control bytes as \\xNN", text.escape_id("dup\1@x") .. " " .. text.escape_id("dup\2@x"), "dup\\x01@x dup\\x02@x")
  t:eq("a backslash doubled", text.escape_id("a\\x01"), "a\\\\x01")
  t:eq("invalid UTF-8 bytes as \\xNN", text.escape_id("caf\233\255"), "caf\\xe9\\xff")
  t:eq("valid UTF-8 kept", text.escape_id("caf\195\169"), "caf\195\169")
  t:eq("U+FFFE and NUL, which XML cannot hold", text.escape_id("\239\191\190\0"), "\\xef\\xbf\\xbe\\x00")
end)

t:group("sip", function()
  -- one whole message, as tshark reads a UDP datagram into one SIP item; anything else is the tree's
  local sdp_body = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
  local function message(headers, body)
    return "INVITE sip:a@b SIP/2.0\r\nCall-ID: c@x\r\n" .. headers .. "\r\n" .. body
  end
  t:eq("whole: no body, Content-Length 0", sip.whole_message(message("Content-Length: 0\r\n", "")), true)
  t:eq("whole: SDP counted exactly (compact forms)", sip.whole_message(message(
    "c: application/SDP; charset=x\r\nl: " .. #sdp_body .. "\r\n", sdp_body)), true)
  t:eq("not whole: no Content-Length", sip.whole_message(message("", "")), false)
  t:eq("not whole: a body longer than counted (a second message may follow)", sip.whole_message(message(
    "Content-Type: application/sdp\r\nContent-Length: 5\r\n", sdp_body)), false)
  t:eq("not whole: two Content-Lengths", sip.whole_message(message(
    "Content-Length: 0\r\nContent-Length: 0\r\n", "")), false)
  t:eq("not whole: a body that may carry SIP (message/sip)", sip.whole_message(message(
    "Content-Type: message/sip\r\nContent-Length: " .. #sdp_body .. "\r\n", sdp_body)), false)
  t:eq("not whole: a bare LF in the header", sip.whole_message(
    "INVITE sip:a@b SIP/2.0\nCall-ID: c@x\r\nContent-Length: 0\r\n\r\n"), false)
  t:eq("not whole: no end of header", sip.whole_message("INVITE sip:a@b SIP/2.0\r\nContent-Length: 0\r\n"),
       false)
  t:eq("not whole: a length that is not a number", sip.whole_message(message("Content-Length: 0x0\r\n", "")),
       false)
  local na = sip.parse_name_addr('"Alice \\"A\\"" <sip:alice@example.com;transport=tcp>;tag=a1b2;other=x')
  t:eq("display", na.display, 'Alice \\"A\\"')
  t:eq("uri keeps uri params", na.uri, "sip:alice@example.com;transport=tcp")
  t:eq("tag", na.tag, "a1b2")
  local bare = sip.parse_name_addr("sip:bob@example.com;TAG=zz")
  t:eq("addr-spec uri", bare.uri, "sip:bob@example.com")
  t:eq("case-insensitive tag", bare.tag, "zz")
  t:eq("no tag", sip.parse_name_addr("<sip:x@y>").tag, nil)
  t:eq("branch of the first Via element",
       sip.via_branch("SIP/2.0/UDP a;Branch=z9hG4bK1;rport, SIP/2.0/UDP b;branch=z9hG4bK2"), "z9hG4bK1")
  t:eq("realm quoted", sip.auth_param('Digest realm="carrier.test", nonce="x"', "realm"), "carrier.test")
  t:eq("username quoted", sip.auth_param('Digest username="alice",realm="r"', "username"), "alice")
  local two = sip.parse("INVITE sip:a@b SIP/2.0\r\nCall-ID: attacker@x\r\ni: victim@x\r\nCSeq: 1 INVITE\r\n\r\n")
  t:eq("a second, different Call-ID marks a conflict", two.call_id .. " " .. tostring(two.call_id_conflict),
       "attacker@x true")
  local same = sip.parse("INVITE sip:a@b SIP/2.0\r\nCall-ID: a@x\r\nCall-ID:  a@x\r\nCSeq: 1 INVITE\r\n\r\n")
  t:eq("the same Call-ID twice is no conflict", same.call_id_conflict, nil)

  -- a request with compact headers, folding, repeated and X- headers, SDP body
  local m = sip.parse(table.concat({
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
  }, "\r\n"))
  t:eq("kind", m.kind, "request")
  t:eq("method", m.method, "INVITE")
  t:eq("request uri", m.request_uri, "sip:+15550100@example.com")
  t:eq("compact Call-ID", m.call_id, "call-1@example.com")
  t:eq("compact Via branch", m.branch, "z9hG4bK-abc")
  t:eq("CSeq number", m.cseq, 7)
  t:eq("CSeq method", m.cseq_method, "INVITE")
  t:eq("from tag", m.from_addr.tag, "from1")
  t:eq("to without tag", m.to_addr.tag, nil)
  t:eq("two Reason headers", #m.reasons, 2)
  t:eq("X- headers in order", m.xheaders[1].name .. "=" .. m.xheaders[1].value, "X-Twilio-CallSid=CA123")
  t:eq("x- in lower case", m.xheaders[2].name, "x-lower")
  t:eq("user agent", m.user_agent, "Test UA")
  t:eq("SDP found", m.has_sdp, true)

  local resp = sip.parse("SIP/2.0 486 Busy Here\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nServer: LiveKit\r\n\r\n")
  t:eq("response kind", resp.kind, "response")
  t:eq("status", resp.status, 486)
  t:eq("reason phrase", resp.reason, "Busy Here")
  t:eq("server", resp.server, "LiveKit")
  t:eq("no SDP", resp.has_sdp, false)
  t:eq("a response belongs to its CSeq method", sip.dialog_method(resp), "INVITE")

  local notify = sip.parse("NOTIFY sip:a@b SIP/2.0\r\nCall-ID: c\r\nEvent: refer\r\n"
                           .. "Content-Type: message/sipfrag;version=2.0\r\n\r\nSIP/2.0 200 OK\r\n")
  t:eq("sipfrag status line", notify.sipfrag, "SIP/2.0 200 OK")
  t:eq("event", notify.event, "refer")

  -- hostile input never errors and stays bounded
  t:eq("garbage start line", sip.parse("\0\1\2 not sip at all").kind, "unknown")
  local huge = sip.parse("INVITE sip:a@b SIP/2.0\r\nCall-ID: " .. string.rep("A", 5000)
                         .. "\r\nCSeq: 99999999999999999999 INVITE\r\n\r\n")
  t:eq("long value bounded", #huge.call_id < 1100, true)
  t:eq("long value says it was cut", huge.call_id:find("%[%+3976 bytes%]") ~= nil, true)
  t:eq("absurd CSeq dropped", huge.cseq, nil)
  local many = { "INVITE sip:a@b SIP/2.0", "Call-ID: c" }
  for i = 1, 100 do many[#many + 1] = "X-H" .. i .. ": v" end
  local manyx = sip.parse(table.concat(many, "\r\n") .. "\r\n\r\n")
  t:eq("X- headers capped", #manyx.xheaders, sip.MAX_XHEADERS)
  t:eq("X- headers over the cap counted", manyx.xheaders_dropped, 100 - sip.MAX_XHEADERS)
  t:eq("methods are case-sensitive", sip.parse("invite sip:a@b SIP/2.0\r\n\r\n").method, "invite")
  -- header lines read in place and, when one is folded, joined first: the same fields either way
  local folded = sip.parse("INVITE sip:a@b SIP/2.0\r\nCall-ID: c\r\nUser-Agent: one\r\n \ttwo  \r\n"
                           .. "Server:\r\n\r\n")
  t:eq("a folded header is joined", folded.user_agent, "one two")
  t:eq("an empty header value", folded.server, "")
  local bare = sip.parse("SIP/2.0 200 OK\nCall-ID: lf\nNot a header\nCSeq: 2 BYE\n\n")
  t:eq("bare LF line ends: the headers", bare.call_id .. " " .. bare.cseq_method, "lf BYE")
  t:eq("a line without a colon is skipped", bare.status, 200)
  local gaps = sip.parse("BYE sip:a@b SIP/2.0\r\nno colon\r\nnor here\r\nCall-ID: g:1\r\nx\r\nCSeq: 3 BYE\r\n\r\n")
  t:eq("headers after lines without a colon", gaps.call_id .. " " .. gaps.cseq, "g:1 3")
  local spaced = sip.parse("BYE sip:a@b SIP/2.0\r\n call-id : sp\r\n\r\n")
  t:eq("a name with spaces around it (first line not folded)", spaced.call_id, "sp")
  -- the names met are remembered, a bounded number of them: past the bound they are still read
  local last
  for i = 1, 700 do
    last = sip.parse("OPTIONS sip:a@b SIP/2.0\r\nX-Name-" .. i .. ": v" .. i .. "\r\nCall-ID: n\r\n\r\n")
  end
  t:eq("X- header past the remembered names", last.xheaders[1].name .. "=" .. last.xheaders[1].value,
       "X-Name-700=v700")
  local long_name = "X-" .. string.rep("L", 300)
  t:eq("a long header name is read, not remembered",
       sip.parse("OPTIONS sip:a@b SIP/2.0\r\n" .. long_name .. ": v\r\n\r\n").xheaders[1].name, long_name)
end)

-- an offer with session- and media-level lines (shared by the sdp and state groups)
local OFFER = table.concat({
  "v=0", "o=- 1 2 IN IP4 198.51.100.1", "c=IN IP4 198.51.100.1", "t=0 0", "a=sendonly",
  "m=audio 4000 RTP/SAVP 8 101", "c=IN IP4 10.0.0.5", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000",
  "a=fmtp:101 0-16", "a=ptime:20", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x", "a=recvonly",
  "m=video 0 RTP/AVP 96",
}, "\r\n")

t:group("sdp", function()
  local s = sdp.parse(OFFER)
  t:eq("session connection", s.connection, "198.51.100.1")
  t:eq("session direction", s.direction, "sendonly")
  t:eq("media count", #s.media, 2)
  t:eq("media connection", s.media[1].connection, "10.0.0.5")
  t:eq("media direction", s.media[1].direction, "recvonly")
  t:eq("formats", s.media[1].formats, "8 101")
  t:eq("rtpmaps", #s.media[1].rtpmap, 2)
  t:eq("crypto", s.media[1].crypto, true)
  t:eq("ptime", s.media[1].ptime, "20")
  t:eq("refused video port", s.media[2].port, 0)
  t:eq("rtpmap lookup", select(2, sdp.rtpmap_of(s.media[1], 101)), 8000)
  t:eq("rtpmap of an unlisted type", sdp.rtpmap_of(s.media[1], 0), nil)
  local lines = { "v=0" }
  for i = 1, sdp.MAX_MEDIA + 3 do lines[#lines + 1] = "m=audio " .. (1000 + i) .. " RTP/AVP 0" end
  local crowded = sdp.parse(table.concat(lines, "\r\n"))
  t:eq("m= lines capped", #crowded.media, sdp.MAX_MEDIA)
  t:eq("m= lines over the cap counted", crowded.media_dropped, 3)
  t:eq("SDP body as is", sdp.of_body("application/sdp", "v=0\r\n"), "v=0\r\n")
  t:eq("no SDP in an empty body", sdp.of_body("application/sdp", "  \r\n"), nil)
  local multi = sip.parse("INVITE sip:a@b SIP/2.0\r\nCall-ID: c\r\nContent-Type: multipart/mixed;boundary=X\r\n\r\n"
    .. "--X\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 5 RTP/AVP 0\r\n--X--\r\n")
  t:eq("SDP inside a multipart body found", multi.has_sdp, true)
  t:eq("SDP parsed out of a multipart body", multi.sdp.media[1].port, 5)
end)

t:group("rtp", function()
  t:eq("telephone-event has no jitter clock", rtp.clock_rate(101, "telephone-event", 8000), 0)
  t:eq("static clock", rtp.clock_rate(9, nil, nil), 8000)
  t:eq("dynamic clock from the rtpmap", rtp.clock_rate(96, "L16", 16000), 16000)
  t:eq("dynamic clock by name", rtp.clock_rate(111, "opus", nil), 48000)
  -- a steady stream, with sequence numbers and timestamps that wrap
  local st = rtp.new_stream(1)
  for i = 0, 199 do
    rtp.packet(st, 1000 + i * 20, (65500 + i) % 65536, (4294967000 + i * 160) % 4294967296, 8, i == 0, 8000, i + 1)
  end
  t:eq("packets", st.packets, 200)
  t:eq("expected across the sequence wrap", rtp.expected(st), 200)
  t:eq("no jitter on a perfect stream", st.max_jitter, 0)
  t:eq("no reordering", st.out_of_order, 0)
  -- the short path of a steady stream gives what the full path gives: the same packets through both (the
  -- full path forced by leaving the steady state before each one), every field compared
  local function dump(v, out, skip)
    if type(v) ~= "table" then out[#out + 1] = type(v) .. ":" .. tostring(v); return end
    local keys = {}
    for k in pairs(v) do if not skip[k] then keys[#keys + 1] = k end end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do out[#out + 1] = tostring(k) .. "="; dump(v[k], out, skip) end
    return out
  end
  local short, full, steady_seen, differ = rtp.new_stream(9), rtp.new_stream(9), 0, nil
  local skip = { next_seq = true, steady_pt = true }
  local implied = { next_seq = true, steady_pt = true, max_seq = true, seq_num = true, time = true, seq_ts = true }
  local seq, ts, at = 65000, 4294960000, 0
  for i = 1, 1200 do
    local pt, marker, clock, step = 0, i % 300 == 1, 8000, 1
    if i % 97 == 0 then step = 3 elseif i % 89 == 0 then step = -1 elseif i % 83 == 0 then step = 0 end
    if i % 200 > 190 then pt, clock = 101, 0 elseif i % 250 == 7 then pt = 13 end
    local ts_step = 160 * step + (i % 71 == 0 and -480 or 0)
    if i == 2 then step, ts_step = -1, 0 end  -- before the first, in time: tshark counts a cycle until it is passed
    seq, ts, at = (seq + step) % 65536, (ts + ts_step) % 4294967296, at + 20 + (i % 7)
    if short.next_seq then steady_seen = steady_seen + 1 end
    rtp.packet(short, at, seq, ts, pt, marker, clock, i)
    full.next_seq = nil
    rtp.packet(full, at, seq, ts, pt, marker, clock, i)
    -- after every packet: the same, but for what a steady stream keeps implied
    local leave = short.next_seq and implied or skip
    if differ == nil and table.concat(dump(short, {}, leave), " ") ~= table.concat(dump(full, {}, leave), " ") then
      differ = i
    end
  end
  t:eq("the same after every packet", differ, nil)
  t:ok("the stream was steady most of the time", steady_seen > 900, steady_seen)
  t:ok("and wrapped its sequence numbers", short.cycles == 2 and full.cycles == 2, short.cycles)
  rtp.unsteady(short)
  t:eq("the short path's result is the full path's", table.concat(dump(short, {}, skip), " "),
       table.concat(dump(full, {}, skip), " "))
  -- loss, a duplicate and a late packet
  local lossy = rtp.new_stream(2)
  for i, seq in ipairs({ 1, 2, 3, 5, 6, 6, 8, 7, 9, 10 }) do rtp.packet(lossy, i * 60, seq, seq * 160, 0, false, 8000, i) end
  t:eq("expected from first to last", rtp.expected(lossy), 10)
  t:eq("lost as tshark counts (expected - received)", rtp.expected(lossy) - lossy.packets, 0)
  t:eq("duplicate found", lossy.duplicates, 1)
  -- the same packet captured twice within 50 ms: a copy, not a packet or a duplicate
  local copied = rtp.new_stream(3)
  for i, at in ipairs({ 0, 20, 20.01, 40 }) do rtp.packet(copied, at, i == 3 and 2 or (i > 3 and 3 or i), 0, 0, false, 8000, i) end
  t:eq("a capture copy is set aside", copied.copies, 1)
  t:eq("and not counted", copied.packets, 3)
  t:eq("nor taken for a duplicate", copied.duplicates, 0)
  t:eq("late packet found", lossy.out_of_order, 1)
  local g = rtp.new_stream(3)
  rtp.packet(g, 0, 1, 0, 0, false, 8000, 1)
  rtp.packet(g, 20, 2, 160, 0, false, 8000, 2)
  rtp.packet(g, 4020, 3, 32160, 0, false, 8000, 3)
  t:eq("a 4 s silence is the longest gap", g.gap_max, 4000)
  -- packets per second: one count per second from the stream's first, silent seconds as 0
  t:eq("per-second counts", rtp.pps_text(st), "50,50,50,50")
  t:eq("first counted second", st.pps_start, 1)
  local silent = rtp.new_stream(4)
  for _, ms in ipairs({ 2500, 2900, 5100 }) do rtp.packet(silent, ms, 1, 0, 0, false, 8000, 1) end
  t:eq("a silent second is a zero", silent.pps_start .. ":" .. rtp.pps_text(silent), "2:2,0,0,1")
  local jump = rtp.new_stream(5)
  rtp.packet(jump, 0, 1, 0, 0, false, 8000, 1)
  rtp.packet(jump, 1e12, 2, 160, 0, false, 8000, 2)
  rtp.packet(jump, -5000, 3, 320, 0, false, 8000, 3)
  t:eq("a time jump past the bound is counted apart, not filled", rtp.pps_text(jump) .. " +" .. jump.pps_over, "1 +2")
  -- loss runs: single losses, a pair, a run of three
  local runs = rtp.new_stream(6)
  for i, seq in ipairs({ 1, 3, 4, 7, 8, 12, 13, 15 }) do rtp.packet(runs, i * 20, seq, seq * 160, 0, false, 8000, i) end
  local seen = {}
  for len, n in pairs(runs.loss_runs) do seen[#seen + 1] = len .. ":" .. n end
  table.sort(seen)
  t:eq("loss runs by length", table.concat(seen, ","), "1:2,2:1,3:1")
  t:eq("no loss, no runs", st.loss_runs, nil)
  -- the three longest silences, longest first
  local gappy = rtp.new_stream(7)
  local at = 0
  for i, pause in ipairs({ 20, 300, 20, 100, 20, 500, 20, 200 }) do
    at = at + pause
    rtp.packet(gappy, at, i, i * 160, 0, false, 8000, i)
  end
  t:eq("longest gaps kept, longest first", gappy.gaps[1][1] .. "," .. gappy.gaps[2][1] .. "," .. gappy.gaps[3][1],
       "500,300,200")
  t:eq("a gap's end frame", gappy.gaps[1][3], 6)
  -- late packets: one 70 ms behind the fastest misses buffers of 20, 40 and 60 ms
  local jittery = rtp.new_stream(8)
  for i = 1, 10 do rtp.packet(jittery, i * 20 + (i == 5 and 70 or 0), i, i * 160, 0, false, 8000, i) end
  t:eq("late for 20, 40, 60 ms buffers", jittery.late[1] .. jittery.late[2] .. jittery.late[3], "111")
  t:eq("in time for 80 ms", jittery.late[4], 0)
  t:eq("a steady stream is never late", st.late, nil)
  -- RFC 4733: the payload read past CSRCs, events told apart by timestamp, the end triple counted once
  local function event_bytes(cc, event, flags, duration)
    return string.char(128 + cc, 101) .. string.rep("\0", 10 + 4 * cc)
      .. string.char(event, flags, math.floor(duration / 256), duration % 256)
  end
  local e, f, d = rtp.event_payload(event_bytes(1, 11, 138, 800))
  t:eq("event payload after a CSRC", e .. "/" .. f .. "/" .. d, "11/138/800")
  t:eq("a short payload is no event", rtp.event_payload(string.char(128, 101, 0, 0)), nil)
  local ev = rtp.new_stream(9)
  for i, p in ipairs({ { 5, 0, 160, 1000 }, { 5, 0, 320, 1000 }, { 5, 128, 800, 1000 }, { 5, 128, 800, 1000 },
                       { 5, 128, 800, 1000 }, { 11, 0, 160, 9000 }, { 11, 128, 400, 9000 } }) do
    rtp.event(ev, 101, p[1], p[2], p[3], 8000, p[4], i * 20, i)
  end
  t:eq("two events, the end triple once", #ev.events, 2)
  t:eq("keys in order", rtp.event_key(ev.events[1].event) .. rtp.event_key(ev.events[2].event), "5#")
  t:eq("duration from the first end packet, in ms", ev.events[1].duration_ms, 100)
  t:eq("the end frame is the first end packet", ev.events[1].end_frame, 3)
end)

t:group("rtcp", function()
  local function u32(n)
    return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  end
  local sr = "\128\200\0\6" .. u32(0xAAAA) .. u32(3950000001) .. u32(0x80000000) .. u32(8000) .. u32(50) .. u32(8000)
  local sr_packet = rtcp.parse(sr)
  t:eq("SR type", sr_packet.pt, 200)
  t:eq("SR NTP middle 32 bits", sr_packet.ntp_mid, (3950000001 % 65536) * 65536 + 0x8000)
  local block = u32(0xAAAA) .. "\26\255\255\254" .. u32(1050) .. u32(80) .. u32(sr_packet.ntp_mid) .. u32(13107)
  local rr_packet = rtcp.parse("\129\201\0\7" .. u32(0xBBBB) .. block)
  t:eq("RR block count", #rr_packet.blocks, 1)
  t:eq("fraction lost", rr_packet.blocks[1].fraction, 26)
  t:eq("negative cumulative loss", rr_packet.blocks[1].cum_lost, -2)
  local collected = { rtcp_sender = {}, rtcp_about = {}, rtcp_xr = {} }
  rtcp.add(collected, sr_packet, 10.0, 100)
  rtcp.add(collected, rr_packet, 10.9, 120)
  local about = collected.rtcp_about[0xAAAA]
  t:eq("one round trip", about.rtt_n, 1)
  t:eq("round trip = arrival - SR - DLSR", string.format("%.3f", about.rtt_max), "0.700")
  t:eq("round trip frame", about.rtt_max_frame, 120)
  t:eq("short packets are not RTCP", rtcp.parse("\128\200"), nil)
end)

-- A state with one message added per call of add(raw, frame, src).
local function collector()
  local st = state_m.new()
  local function add(raw, frame, src)
    local msg = sip.parse(raw)
    msg.frame, msg.index, msg.time = frame, 1, frame / 10
    msg.src, msg.dst, msg.src_port, msg.dst_port = src or "10.0.0.1", "10.0.0.2", 5060, 5060
    msg.transport = "UDP"
    state_m.add_message(st, msg)
  end
  return st, add
end

t:group("state", function()
  -- streaming: a call leaves the tap once it is over (settle s after a clean end, linger s after an
  -- unacknowledged failure, with no message since)
  do
    local sst, sadd = collector()  -- message times are frame / 10 s
    local function msg(start, id, cseq)
      return start .. "\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK" .. cseq .. "\r\nCall-ID: " .. id
             .. "\r\nCSeq: " .. cseq .. "\r\n\r\n"
    end
    sadd(msg("INVITE sip:a@b SIP/2.0", "ended", "1 INVITE"), 10)
    sadd(msg("SIP/2.0 200 OK", "ended", "1 INVITE"), 20)
    sadd(msg("BYE sip:a@b SIP/2.0", "ended", "2 BYE"), 50)
    sadd(msg("SIP/2.0 200 OK", "ended", "2 BYE"), 60)  -- over at 6 s
    sadd(msg("INVITE sip:a@b SIP/2.0", "retried", "1 INVITE"), 30)
    sadd(msg("SIP/2.0 401 Unauthorized", "retried", "1 INVITE"), 40)
    sadd(msg("INVITE sip:a@b SIP/2.0", "retried", "2 INVITE"), 70)  -- a new attempt: not over
    t:eq("a BYE answered: not before the settle", #state_m.take_over_calls(sst, 6 + sst.settle - 1), 0)
    local written = state_m.take_over_calls(sst, 6 + sst.settle + 1)
    t:eq("the ended call is taken, the retried one stays", #written .. " " .. written[1].id .. " " .. #sst.calls,
         "1 ended 1")
    t:eq("with the time before which every call is written: the open call's start",
         written[#written].complete_before, 3)
    sadd(msg("SIP/2.0 486 Busy Here", "retried", "2 INVITE"), 80)  -- failed, no ACK yet: may be resent
    t:eq("an unacknowledged failure waits past the settle", #state_m.take_over_calls(sst, 8 + sst.settle + 1), 0)
    t:eq("for the linger", #state_m.take_over_calls(sst, 8 + sst.linger + 1), 1)
    local ast, aadd = collector()
    aadd(msg("INVITE sip:a@b SIP/2.0", "acked", "1 INVITE"), 10)
    aadd(msg("SIP/2.0 486 Busy Here", "acked", "1 INVITE"), 20)
    aadd(msg("ACK sip:a@b SIP/2.0", "acked", "1 ACK"), 21)
    t:eq("an acknowledged failure leaves after the settle", #state_m.take_over_calls(ast, 2.1 + ast.settle + 1), 1)
    sadd(msg("BYE sip:a@b SIP/2.0", "ended", "3 BYE"), 400)
    t:eq("a later message of a written call is late traffic", sst.late_sip_messages, 1)
    t:eq("and makes no new call", #sst.calls, 0)
    sadd(msg("INVITE sip:a@b SIP/2.0", "silent", "1 INVITE"), 450)
    t:eq("silent calls stay until idle", #state_m.take_over_calls(sst, 45 + sst.idle - 1), 0)
    t:eq("then go too", #state_m.take_over_calls(sst, 45 + sst.idle + 1), 1)
    -- a stream of a call still open leaves with it; its later packets are counted on a stand-in
    local rst, radd = collector()
    radd("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nCall-ID: r\r\nCSeq: 1 INVITE\r\n"
         .. "Content-Type: application/sdp\r\n\r\nv=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n", 1)
    local stream = state_m.add_stream(rst, 7, 4000 * 65536 + 5000, "10.0.0.1", 4000, "10.0.0.2", 5000, 1)
    for i = 1, 5 do rtp.packet(stream, 100 + i * 20, i, i * 160, 0, false, 8000, 10 + i) end
    radd("SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nCall-ID: r\r\nCSeq: 1 INVITE\r\n\r\n", 2)
    radd("ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nCall-ID: r\r\nCSeq: 1 ACK\r\n\r\n", 3)
    for i = 1, 5 do rtp.packet(stream, 300 + i * 20, 5 + i, (5 + i) * 160, 0, false, 8000, 30 + i) end
    t:eq("over cleanly but its RTP still flowing: kept", #state_m.take_over_calls(rst, 0.4 + rst.settle - 1), 0)
    t:eq("written with its stream", #state_m.take_over_calls(rst, rst.idle + 1)[1].streams, 1)
    local stand_in = rst.stream_index[7][4000 * 65536 + 5000]
    for i = 11, 13 do rtp.packet(stand_in, rst.idle * 1000 + 2000 + i * 20, i, i * 160, 0, false, 8000, 40 + i) end
    t:eq("its later packets are late traffic", state_m.finish(rst).late_rtp_packets, 3)
    -- what a written call leaves behind is forgotten: `linger` s after it was written once over
    -- (`idle` s for a call written for being silent); the late traffic it counted stays counted
    local written_at = rst.idle + 1
    state_m.take_over_calls(rst, written_at + rst.linger - 1)
    t:eq("remembered within the linger", tostring(rst.written_ids.r) .. " " .. rst.sdp_endpoint_count, "true 1")
    state_m.take_over_calls(rst, written_at + rst.linger + 1)
    t:eq("then its Call-ID, SDP endpoint and port are forgotten",
         tostring(rst.written_ids.r) .. " " .. rst.sdp_endpoint_count .. " " .. tostring(rst.sdp_ports[4000]),
         "nil 0 nil")
    t:eq("and its stream's stand-in", rst.stream_index[7], nil)
    t:eq("what the stand-in counted stays counted", state_m.finish(rst).late_rtp_packets, 3)
    radd("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK9\r\nCall-ID: r\r\nCSeq: 9 INVITE\r\n\r\n",
         (written_at + rst.linger + 2) * 10)
    t:eq("a message with the Call-ID then begins a call", #rst.calls .. " " .. rst.late_sip_messages, "1 0")
    local silent_written = 45 + sst.idle + 1
    state_m.take_over_calls(sst, silent_written + sst.linger + 1)
    t:eq("a call written for being silent is remembered past the linger", sst.written_ids.silent, true)
    state_m.take_over_calls(sst, silent_written + sst.idle + 1)
    t:eq("for the idle time", sst.written_ids.silent, nil)
    local cap, left = state_m.finish(sst)
    t:eq("written calls are counted in the capture", cap.calls .. "/" .. #left, "3/0")
    t:eq("late messages in the capture record", cap.late_sip_messages, 1)
  end

  -- retransmissions and non-call methods
  local st, add = collector()
  local inv = "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nCall-ID: k\r\nCSeq: 1 INVITE\r\n\r\n"
  add(inv, 1)
  add(inv, 2)
  add(inv, 3, "10.0.0.9")  -- same message from another address: another leg, not a retransmission
  add("OPTIONS sip:a@b SIP/2.0\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\n\r\n", 4)
  add("NOTIFY sip:a@b SIP/2.0\r\nCall-ID: n\r\nCSeq: 1 NOTIFY\r\n\r\n", 5)
  local cap, calls = state_m.finish(st)
  t:eq("one call", #calls, 1)
  t:eq("retransmission counted", calls[1].retransmissions, 1)
  t:eq("retransmission flagged", calls[1].msgs[2].retransmission, true)
  t:eq("other leg not a retransmission", calls[1].msgs[3].retransmission, nil)
  t:eq("OPTIONS counted outside calls", cap.other_sip.OPTIONS, 1)
  t:eq("NOTIFY-only Call-ID counted outside calls", cap.other_sip.NOTIFY, 1)
  t:eq("sip messages", cap.sip_messages, 5)

  -- SDP endpoints: UDP that tshark left undecoded is RTP when it goes to (or
  -- comes from) an advertised RTP address:port with a listed payload type
  local eps = state_m.new()
  state_m.note_sdp_endpoints(eps, { frame = 80, sdp = sdp.parse(OFFER) })
  t:eq("RTP endpoint remembered with its frame", eps.sdp_endpoints["10.0.0.5|4000"].frame, 80)
  t:eq("refused m= line not remembered", eps.sdp_endpoints["198.51.100.1|0"], nil)
  t:eq("port counted for the cheap test (one endpoint on it)", eps.sdp_ports[4000], 1)
  t:eq("to the endpoint, listed PT", state_m.sdp_rtp_endpoint(eps, "10.0.0.9", 7, "10.0.0.5", 4000, 0x80, 8).frame, 80)
  t:eq("from the endpoint, marker set",
       state_m.sdp_rtp_endpoint(eps, "10.0.0.5", 4000, "10.0.0.9", 7, 0x80, 0x80 + 101) ~= nil, true)
  t:eq("unlisted payload type", state_m.sdp_rtp_endpoint(eps, "10.0.0.9", 7, "10.0.0.5", 4000, 0x80, 0), nil)
  t:eq("not version 2 (STUN)", state_m.sdp_rtp_endpoint(eps, "10.0.0.9", 7, "10.0.0.5", 4000, 0x00, 8), nil)
  t:eq("other address", state_m.sdp_rtp_endpoint(eps, "10.0.0.9", 7, "10.0.0.6", 4000, 0x80, 8), nil)

  -- SIP-looking UDP on a port another dissector claimed: counted by the server's port
  local odd = state_m.new()
  state_m.note_sip_candidate(odd, 7, "INVITE sip:a", 5070, 5072)
  state_m.note_sip_candidate(odd, 8, "SIP/2.0 100 ", 5072, 5070)
  state_m.note_sip_candidate(odd, 9, "\128\8abcdefghij", 5072, 5070)
  t:eq("requests and responses counted on the server's port", odd.sip_candidates[5072].frames, 2)
  t:eq("an RTP header is not SIP", odd.candidate_count, 1)
  -- a clock jump moves the base: durations across it stay what they were on the wire
  local clock = state_m.new()
  clock.first_abs, clock.base, clock.last_abs = 100, 100, 110
  state_m.note_step(clock, 110 + 3 * 365 * 86400, function() return 42 end)
  t:eq("a jump of years is recorded with its frame", clock.step_forward_frame, 42)
  t:eq("and taken out of the timeline", clock.base, 100 + 3 * 365 * 86400)
  -- a message with two different Call-IDs belongs to no call
  local cst, cadd = collector()
  cadd("INVITE sip:a@b SIP/2.0\r\nCall-ID: victim@x\r\nCSeq: 1 INVITE\r\n\r\n", 1)
  cadd("INVITE sip:a@b SIP/2.0\r\nCall-ID: attacker@x\r\nCall-ID: victim@x\r\nCSeq: 1 INVITE\r\n\r\n", 2)
  local ccap, ccalls = state_m.finish(cst)
  t:eq("only the victim's own message in its call", #ccalls .. " " .. ccalls[1].id .. " " .. #ccalls[1].msgs,
       "1 victim@x 1")
  t:eq("the conflicting message counted outside calls", ccap.other_sip["(conflicting Call-IDs)"], 1)

  -- past the per-call bound: the final response and what follows kept, the middle of the repeats dropped
  local bst, badd = collector()
  local ringing = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nTo: <sip:b@c>;tag=t9\r\n"
                  .. "Call-ID: long\r\nCSeq: 1 INVITE\r\n\r\n"
  badd("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nCall-ID: long\r\nCSeq: 1 INVITE\r\n\r\n", 1)
  local repeats = state_m.MAX_MSGS_PER_CALL + 500
  for i = 1, repeats do badd(ringing, 1 + i) end
  badd("SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nTo: <sip:b@c>;tag=t9\r\nCall-ID: long\r\n"
       .. "CSeq: 1 INVITE\r\n\r\n", repeats + 2)
  badd("ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nCall-ID: long\r\nCSeq: 1 ACK\r\n\r\n", repeats + 3)
  local bcap, bcalls = state_m.finish(bst)
  local kept = bcalls[1].msgs
  t:eq("the bound, the last 180, the 486 and the ACK kept", #kept, state_m.MAX_MSGS_PER_CALL + 3)
  t:eq("the first 180 kept", kept[2].status .. "@" .. kept[2].frame, "180@2")
  t:eq("the last 180 kept", kept[#kept - 2].status .. "@" .. kept[#kept - 2].frame, "180@" .. (repeats + 1))
  t:eq("the final response kept", kept[#kept - 1].status, 486)
  t:eq("the ACK kept", kept[#kept].method, "ACK")
  t:eq("the dropped middle counted in the call and the capture", bcalls[1].dropped .. "/" .. bcap.messages_dropped,
       (repeats + 3 - #kept) .. "/" .. (repeats + 3 - #kept))
  t:eq("every message counted", bcalls[1].total, repeats + 3)
  t:eq("a kept message keeps only what the PDML writes", kept[1].cseq_raw, nil)

  -- past MAX_CALLS: Call-IDs counted once each, their messages counted
  local mst, madd = collector()
  for i = 1, state_m.MAX_CALLS + 5 do
    madd("INVITE sip:a@b SIP/2.0\r\nCall-ID: flood-" .. i .. "\r\nCSeq: 1 INVITE\r\n\r\n", i)
  end
  madd("CANCEL sip:a@b SIP/2.0\r\nCall-ID: flood-" .. (state_m.MAX_CALLS + 1) .. "\r\nCSeq: 1 CANCEL\r\n\r\n", 0)
  madd("INFO sip:a@b SIP/2.0\r\nCall-ID: flood-info\r\nCSeq: 1 INFO\r\n\r\n", 0)
  local mcap, mcalls = state_m.finish(mst)
  t:eq("calls bounded", #mcalls .. "/" .. mcap.calls, state_m.MAX_CALLS .. "/" .. state_m.MAX_CALLS)
  t:eq("each dropped call counted once; a Call-ID with no call method is no call", mcap.calls_dropped, 5)
  t:eq("their messages counted", mcap.calls_dropped_messages, 7)
  t:eq("an exact count", mcap.calls_dropped_at_least, false)

  -- the bounds: every overflow counted
  local errs = state_m.new()
  for i = 1, state_m.MAX_TAP_ERRORS_KEPT + 5 do state_m.note_error(errs, i, "boom") end
  t:eq("tap errors all counted, the first few kept", errs.tap_errors .. "/" .. #errs.tap_error_samples,
       (state_m.MAX_TAP_ERRORS_KEPT + 5) .. "/" .. state_m.MAX_TAP_ERRORS_KEPT)
end)

t:group("pdml", function()
  local st, add = collector()
  add("INVITE sip:a@b SIP/2.0\r\nCall-ID: k<&>\r\nCSeq: 1 INVITE\r\n\r\n", 1)
  st.packets = 1
  local cap, calls = state_m.finish(st)
  local errors = {}
  local doc = table.concat(pdml.render({ creator = "sipdiag/test", wireshark = "4.0.17", lua = _VERSION }, cap, calls,
                                       function(frame, err) errors[#errors + 1] = err end))
  t:eq("the root carries SCHEMA_VERSION", doc:match('<pdml [^>]*sipdiag_schema="([^"]*)"'), pdml.SCHEMA_VERSION)
  t:eq("schema version is major.minor", pdml.SCHEMA_VERSION:find("^%d+%.%d+$") ~= nil, true)
  t:eq("one call packet", select(2, doc:gsub('<proto name="sipdiag.call"', "")), 1)
  t:eq("capture text escaped", doc:find('show="k&lt;&amp;&gt;"', 1, true) ~= nil, true)
  t:eq("no rendering errors", #errors, 0)
  t:eq("ends the document", doc:sub(-8), "</pdml>\n")
  -- escaped values are remembered between calls: a second rendering escapes from memory, the same way
  local again = table.concat(pdml.render({ creator = "sipdiag/test", wireshark = "4.0.17", lua = _VERSION }, cap, calls))
  t:eq("rendered again, the same document (nothing raw)", again == doc and not again:find("k<&>", 1, true), true)
end)

t:group("brief", function()
  local calls = { { id = "a-1@x", msgs = {}, total = 0, streams = {} }, { id = "a-2@x", msgs = {}, total = 0 } }
  t:eq("a call by its number", brief.pick_call(calls, "2").id, "a-2@x")
  t:eq("a call by its Call-ID", brief.pick_call(calls, " a-1@x ").id, "a-1@x")
  t:eq("an ambiguous beginning picks none", brief.pick_call(calls, "a-"), nil)
  t:eq("nothing typed picks none", brief.pick_call(calls, ""), nil)
  t:eq("a Call-ID with a quote in the filter", brief.call_filter({ id = 'q"x', streams = {} }),
       '(sip.Call-ID === "q\\"x" || (sip.Call-ID == "q\\"x" && count(sip) > 1))')
  t:eq("control bytes as \\xNN", brief.call_id_filter("dup\1@x"),
       '(sip.Call-ID === "dup\\x01@x" || (sip.Call-ID == "dup\\x01@x" && count(sip) > 1))')
  t:eq("invalid UTF-8: by its bytes", brief.call_id_filter("bad\255@x"), '(sip && frame contains "bad\\xff@x")')
  t:eq("NUL: by its bytes", brief.call_id_filter("k\0@x"), '(sip && frame contains "k\\x00@x")')
  local stream = { src = "10.0.0.1", src_port = 4000, dst = "10.0.0.2", dst_port = 5000, ssrc = 0x1234ABCD, packets = 9,
                   start_seq = 1, stop_seq = 10, cycles = 0, mean_jitter = 1.25 }
  local filter = brief.call_filter({ id = "c", streams = { stream } })
  t:eq("RTP by SSRC and ports, ICMP quotes left out",
       filter, '((sip.Call-ID === "c" || (sip.Call-ID == "c" && count(sip) > 1)) || (rtp.ssrc == 0x1234ABCD && udp.srcport == 4000 && udp.dstport == 5000)'
               .. " || (rtcp && udp.srcport == 4001 && udp.dstport == 5001)) && !(icmp || icmpv6)")
  local shown = brief.summary({ packets = 20, sip_messages = 2, rtp_streams = 1 },
                              { { id = "c", msgs = {}, total = 2, streams = { stream } } })
  t:eq("summary head", shown:match("^[^\n]*"), "20 packets, 2 SIP messages, 1 call(s), 1 RTP stream(s)")
  local capped = brief.summary({ packets = 9, sip_messages = 9, rtp_streams = 0, calls_dropped = 7,
                                 calls_dropped_messages = 8 }, { { id = "c", msgs = {}, total = 1 } })
  t:eq("calls past the bound said", capped:match("\n([^\n]*)"),
       "7 more call(s) past the tap's bound not kept (8 SIP messages)")
  t:eq("summary stream line", shown:find("RTP 10.0.0.1:4000 -> 10.0.0.2:5000 SSRC 0x1234ABCD: 9 packets, 1 lost, "
                                         .. "jitter 1.2 ms", 1, true) ~= nil, true)
  -- the final response as the post-processor defines it: a re-INVITE's failure does not undo the answer
  local answered = { id = "r", total = 3, streams = {}, msgs = {
    { status = 200, cseq_method = "INVITE" }, { status = 488, cseq_method = "INVITE" }, { status = 200, cseq_method = "BYE" } } }
  t:eq("final response of an answered call", brief.summary({ packets = 3, sip_messages = 3 }, { answered })
       :find("final response 200,", 1, true) ~= nil, true)
end)

t:group("frame", function()
  local char = string.char
  local function u16(n) return char(math.floor(n / 256), n % 256) end
  local payload = "INVITE sip:a@b SIP/2.0\r\n\r\n"
  local udp = u16(5060) .. u16(5070) .. u16(8 + #payload) .. u16(0) .. payload
  local function ipv4(flags, proto, total, first)
    return char(first or 0x45, 0) .. u16(total or 20 + #udp) .. u16(1) .. u16(flags or 0) .. char(64, proto or 17)
        .. u16(0) .. char(192, 0, 2, 1, 192, 0, 2, 2) .. udp
  end
  local function ipv6(next_header, length)
    return char(0x60, 0, 0, 0) .. u16(length or #udp) .. char(next_header or 17, 64) .. string.rep("\0", 32) .. udp
  end
  local payload_of = frame.udp_payload
  t:eq("IPv4: the datagram's payload", payload_of(ipv4(), 4, 5060, 5070), payload)
  t:eq("IPv4 with DF: the payload", payload_of(ipv4(0x4000), 4, 5060, 5070), payload)
  t:eq("IPv6: the datagram's payload", payload_of(ipv6(), 6, 5060, 5070), payload)
  t:eq("another IP version than learnt: none", payload_of(ipv6(), 4, 5060, 5070), nil)
  t:eq("a fragment (MF): none", payload_of(ipv4(0x2000), 4, 5060, 5070), nil)
  t:eq("a later fragment (offset): none", payload_of(ipv4(0x0001), 4, 5060, 5070), nil)
  t:eq("not UDP (an ICMP error quoting it): none", payload_of(ipv4(0, 1), 4, 5060, 5070), nil)
  t:eq("IPv4 options: none", payload_of(ipv4(0, 17, nil, 0x46), 4, 5060, 5070), nil)
  t:eq("a trailer after the IP datagram: none", payload_of(ipv4() .. "\0\0\0\0", 4, 5060, 5070), nil)
  t:eq("other ports than dissected: none", payload_of(ipv4(), 4, 5060, 5080), nil)
  t:eq("an IPv6 extension header: none", payload_of(ipv6(0), 6, 5060, 5070), nil)
  t:eq("too short for the headers: none", payload_of(ipv4():sub(1, 27), 4, 5060, 5070), nil)
end)

t:finish()
