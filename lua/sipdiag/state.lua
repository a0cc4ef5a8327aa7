--[[
sipdiag.state: what the tap collects over one pass, and how it becomes
calls: SIP messages grouped by Call-ID (retransmissions marked), SIP that
belongs to no call counted by method, RTP streams found by SSRC and ports
and linked to their call (by the setup frame, else by SDP address), the
SDP endpoints that let RTP tshark left undecoded be read, and the bounds
that keep a hostile capture from exhausting memory (every overflow is
counted and reported, never silently dropped).

Pure: no Wireshark API, no globals, nothing registered; loading it only
returns the table below.
]]

local text = require("sipdiag.text")
local sip = require("sipdiag.sip")
local sdp = require("sipdiag.sdp")
local rtp = require("sipdiag.rtp")
local bounded = text.bounded
local dialog_method, retransmission_key = sip.dialog_method, sip.retransmission_key
local NON_CALL_METHODS, CALL_METHODS = sip.NON_CALL_METHODS, sip.CALL_METHODS
local rtpmap_of = sdp.rtpmap_of
local new_stream, clock_rate = rtp.new_stream, rtp.clock_rate

local M = {}

M.MAX_CALLS = 20000          -- Call-IDs tracked (a hostile capture can send one INVITE per Call-ID)
M.MAX_DROPPED_IDS = 1000000  -- Call-IDs past MAX_CALLS remembered (about 100 bytes each) to count each once
M.MAX_MSGS_PER_CALL = 2000   -- SIP messages kept per Call-ID; past it only what verdicts need
M.MAX_KEPT_PAST_BOUND = 2000 -- messages kept past MAX_MSGS_PER_CALL; past both, the newest replaces the last
M.MAX_TAP_ERRORS_KEPT = 10   -- error samples written to the capture record
M.MAX_TLS_PORTS = 32         -- distinct TLS server ports tracked
M.MAX_OTHER_METHODS = 64     -- distinct non-call method names counted by name
M.MAX_STREAMS = 20000        -- RTP streams tracked (a hostile capture can vary SSRCs per packet)
M.MAX_SDP_ENDPOINTS = 20000  -- SDP media address:ports remembered for RTP tshark did not decode
M.MAX_WRITTEN_IDS = 1000000  -- Call-IDs of calls already written remembered (their late messages are counted)
-- Calls leave the tap when they are over (written at once, their memory freed), in capture time:
M.LINGER_S = 32    -- after its end (BYE answered, the INVITE failed) with no new message: SIP's 64*T1
M.SETTLE_S = 5     -- after a clean end (BYE answered; a failed INVITE's final response acknowledged), with no
                   -- new message and no RTP of its streams: SIP's T4 (retransmissions come at most T2 = 4 s apart)
M.IDLE_S = 600     -- with no SIP message and no RTP packet at all, a call in any state
M.SWEEP_S = 1      -- how often calls are looked at
local MAX_MSGS_PER_CALL, MAX_TAP_ERRORS_KEPT, MAX_TLS_PORTS = M.MAX_MSGS_PER_CALL, M.MAX_TAP_ERRORS_KEPT,
                                                              M.MAX_TLS_PORTS
local MAX_OTHER_METHODS, MAX_STREAMS, MAX_SDP_ENDPOINTS = M.MAX_OTHER_METHODS, M.MAX_STREAMS, M.MAX_SDP_ENDPOINTS
local MAX_CALLS, MAX_DROPPED_IDS, MAX_KEPT_PAST_BOUND = M.MAX_CALLS, M.MAX_DROPPED_IDS, M.MAX_KEPT_PAST_BOUND

-- A fresh collection state: one per pass over a capture.
function M.new()
  return {
    packets = 0,
    first_abs = nil,          -- absolute time of the first packet (s since epoch)
    base = nil,               -- what packet times are relative to: first_abs plus the clock jumps skipped
    last_abs = nil,           -- absolute time of the last packet
    sip_messages = 0,
    calls = {},               -- array of calls in order of first appearance
    call_by_id = {},          -- map from Call-ID to call
    call_count = 0,           -- Call-IDs tracked (keys of call_by_id), at most MAX_CALLS
    dropped_ids = {},         -- map from Call-ID past MAX_CALLS to true once a call method was seen, else false
    dropped_id_count = 0,     -- keys of dropped_ids, at most MAX_DROPPED_IDS
    calls_dropped = 0,        -- Call-IDs past MAX_CALLS with a call method (exact while dropped_ids has room)
    calls_dropped_messages = 0,  -- SIP messages of Call-IDs past MAX_CALLS
    messages_dropped = 0,     -- messages of tracked calls not kept (the per-call bounds)
    xheaders_dropped = 0,     -- X- headers not kept, over all messages
    other_sip = {},           -- map from non-call method to message count
    other_count = 0,          -- number of keys in other_sip
    other_first = {},         -- map from non-call method to the first frame it was seen in
    tls = {},                 -- map from TLS server port to {port, frames, first_frame}
    tls_count = 0,            -- number of keys in tls
    tls_decoded = {},         -- set of TLS server ports on which SIP was decrypted (keys given)
    tls_ports_dropped = 0,    -- TLS frames on ports beyond MAX_TLS_PORTS
    snapped_sip_frames = 0,   -- SIP frames cut by the capture's snap length
    tap_errors = 0,
    tap_error_samples = {},   -- first MAX_TAP_ERRORS_KEPT {frame, message}
    streams = {},             -- array of RTP streams in order of their first packet
    stream_index = {},        -- map from SSRC to map from src_port*65536+dst_port to stream
    streams_dropped = 0,      -- streams past MAX_STREAMS
    rtp_dropped = 0,          -- RTP packets of those streams
    rtcp_packets = 0,         -- RTCP packets (compound parts) read
    rtcp_sender = {},         -- map from SSRC to {sr, rr, srs = map from NTP middle 32 bits to time}
    rtcp_about = {},          -- map from reported SSRC to receiver-report statistics
    rtcp_xr = {},             -- map from SSRC to the last RTCP-XR VoIP metrics about it
    sdp_endpoints = {},       -- map from "address|port" an SDP advertised for RTP to {frame, formats}
    sdp_endpoint_count = 0,
    sdp_ports = {},           -- map from those ports to how many endpoints use them (a cheap test per UDP packet)
    step_back = 0,            -- s: the largest step back in time between consecutive packets (>= 0)
    step_back_frame = 0,      -- the packet that stepped back
    step_forward = 0,         -- s: the largest step forward between consecutive packets
    step_forward_frame = 0,   -- the packet after it
    sip_candidates = {},      -- map from UDP port to {port, frames, first_frame}: SIP-looking text tshark left undecoded
    candidate_count = 0,      -- number of keys in sip_candidates
    sip_copies = 0,           -- SIP frames that were copies of one seen within COPY_WINDOW_S
    first_sip_copy = nil,     -- the first of them
    -- calls written before the end (streaming), and what came for them afterwards
    written = 0,              -- calls written (and freed) before the end of the capture
    written_ids = {},         -- map from a written call's Call-ID to true (at most MAX_WRITTEN_IDS)
    written_id_count = 0,
    late_sip_messages = 0,    -- SIP messages of written calls (their Call-ID) that came later
    late_rtp_packets = 0,     -- RTP packets of written calls' streams that came later
    -- what written calls leave to count their late traffic by (see forget_written): two queues, oldest
    -- first, of {at = capture time (s) it is forgotten, id, endpoints = {key, record, ...}, stand_ins = {...}}
    ended_calls = { first = 1, last = 0 },   -- written once over, remembered for `linger` s
    silent_calls = { first = 1, last = 0 },  -- written for being silent, remembered for `idle` s (they may still
                                             -- end), or `linger` s when that is longer
    header_offset = {},       -- map from src_port*65536+dst_port to where the RTP header sits in the frame
    stream_total = 0,         -- streams ever tracked
    written_copies = 0,       -- RTP capture copies counted in written streams
    written_first_copy = nil,
    next_sweep = nil,         -- capture time (s) of the next look at calls that may be over
    linger = M.LINGER_S, idle = M.IDLE_S, settle = M.SETTLE_S,
  }
end

M.SKIP_JUMP_S = 3600  -- a step forward longer than this is a clock jump: later times continue from before it
M.COPY_WINDOW_S = 0.05  -- a SIP message repeated within this many s is a capture copy, not a retransmission
local COPY_WINDOW_S = M.COPY_WINDOW_S

-- Account the time step from the previous packet to one at absolute time abs;
-- frame() gives the packet's number (asked only when the step is a new extreme).
-- A clock jump (a step forward over SKIP_JUMP_S) moves the base by the step, so
-- durations across it stay what they were on the wire, not years.
function M.note_step(state, abs, frame)
  local last = state.last_abs
  if last == nil then return end
  local step = abs - last
  if step > M.SKIP_JUMP_S then state.base = state.base + step end
  if step > state.step_forward then
    state.step_forward, state.step_forward_frame = step, frame()
  elseif -step > state.step_back then
    state.step_back, state.step_back_frame = -step, frame()
  end
end

-- A tap error at a frame: counted, and its message kept for the first MAX_TAP_ERRORS_KEPT.
function M.note_error(state, frame, err)
  state.tap_errors = state.tap_errors + 1
  if #state.tap_error_samples < MAX_TAP_ERRORS_KEPT then
    state.tap_error_samples[#state.tap_error_samples + 1] = { frame = frame, message = bounded(tostring(err)) }
  end
end

-- Count SIP messages that belong to no call, by method (bounded).
local function count_other(state, method, count, frame)
  local key = method or "(unknown)"
  if state.other_sip[key] == nil then
    if state.other_count >= MAX_OTHER_METHODS then key = "(other methods)" end
    if state.other_sip[key] == nil then
      state.other_count = state.other_count + 1
      state.other_first[key] = frame
    end
  end
  state.other_sip[key] = (state.other_sip[key] or 0) + count
  if frame < state.other_first[key] then state.other_first[key] = frame end
end

-- A request and its responses share the top Via's branch and the CSeq.
local function transaction_key(msg)
  return (msg.branch or "") .. "\0" .. (msg.cseq_raw or "")
end

-- Remember the RTP address:ports a message's SDP advertises: the call, the
-- payload types it lists (so that RTP tshark leaves undecoded can still be
-- read), whether it is SRTP (its RTCP is encrypted), and the frame that set
-- it up: a request's own frame, and for a response the frame of the request it
-- answers when that request carried SDP (the offer), else its own frame.
local function note_sdp_endpoints(state, msg, call)
  local frame = msg.frame
  if call and msg.kind ~= "request" and call.requests then
    frame = call.requests[transaction_key(msg)] or frame
  end
  for _, media in ipairs(msg.sdp.media) do
    local addr = media.connection or msg.sdp.connection
    local proto = media.proto or ""
    if addr and media.port and media.port > 0 and proto:find("RTP", 1, true) then
      local key = addr .. "|" .. media.port
      local known = state.sdp_endpoints[key]
      if known == nil and state.sdp_endpoint_count >= MAX_SDP_ENDPOINTS then return end
      if known == nil then
        state.sdp_endpoint_count = state.sdp_endpoint_count + 1
        state.sdp_ports[media.port] = (state.sdp_ports[media.port] or 0) + 1
      end
      -- as in tshark, the endpoint set up by the latest frame wins, not the latest message:
      -- an answer to an earlier re-INVITE leaves a later offer's setup in place
      if known == nil or known.frame <= frame then
        local formats = {}
        for pt in (media.formats or ""):gmatch("%d+") do formats[tonumber(pt)] = true end
        state.sdp_endpoints[key] = { frame = frame, formats = formats, call = call, port = media.port,
                                     secure = proto:find("SAVP", 1, true) ~= nil }
      end
    end
  end
end
M.note_sdp_endpoints = note_sdp_endpoints

-- A message that could be part of a call past MAX_CALLS: counted, its Call-ID remembered (while there is room)
-- so that each dropped call counts once.
local function drop_call_message(state, id, method)
  state.calls_dropped_messages = state.calls_dropped_messages + 1
  local is_call = method ~= nil and CALL_METHODS[method] == true
  local known = state.dropped_ids[id]
  if known == nil and state.dropped_id_count < MAX_DROPPED_IDS then
    state.dropped_id_count = state.dropped_id_count + 1
    state.dropped_ids[id] = is_call
    if is_call then state.calls_dropped = state.calls_dropped + 1 end
  elseif known == false and is_call then
    state.dropped_ids[id] = true
    state.calls_dropped = state.calls_dropped + 1
  end
end

local function provisional(m)
  return m.status ~= nil and m.status < 200 and not m.sdp
end

-- Two provisional responses that repeat one another (same status, CSeq and To tag).
local function repeats(a, b)
  return provisional(a) and provisional(b) and a.status == b.status and a.cseq == b.cseq
         and a.cseq_method == b.cseq_method and (a.to_addr and a.to_addr.tag) == (b.to_addr and b.to_addr.tag)
end

-- map from request method to true for requests kept past the per-call bound even when repeated
local ALWAYS_KEPT = { ACK = true, BYE = true, CANCEL = true }

-- Keep a message in its call: all of them up to MAX_MSGS_PER_CALL; past that, only what verdicts
-- depend on (final responses, ACK, BYE, CANCEL, requests that start a transaction, messages with SDP,
-- the first and the last of a run of repeated provisional responses), the repeats in the middle
-- dropped and counted. Past MAX_KEPT_PAST_BOUND more, the newest message verdicts need replaces the
-- last one kept, so the call still ends as it ended.
local function keep(state, call, msg)
  local msgs = call.msgs
  local n = #msgs
  local function drop()
    call.dropped = call.dropped + 1
    state.messages_dropped = state.messages_dropped + 1
  end
  if n < MAX_MSGS_PER_CALL then
    msgs[n + 1] = msg
    return
  end
  local last = msgs[n]
  if provisional(msg) then
    if last.tail and repeats(last, msg) then
      msgs[n] = msg  -- the run's newest replaces its previous last; that one was in the middle
      msg.tail = true
      drop()
      return
    end
    if n < MAX_MSGS_PER_CALL + MAX_KEPT_PAST_BOUND then
      msgs[n + 1] = msg
      msg.tail = repeats(last, msg) or nil  -- the run's first is kept (before), this is its last so far
    else
      drop()
    end
    return
  end
  local needed = (msg.status ~= nil and msg.status >= 200) or msg.sdp ~= nil
                 or (msg.kind == "request" and (ALWAYS_KEPT[msg.method] or not msg.retransmission))
  if not needed then
    drop()
  elseif n < MAX_MSGS_PER_CALL + MAX_KEPT_PAST_BOUND then
    msgs[n + 1] = msg
  else
    msgs[n] = msg
    drop()
  end
end

-- What a message keeps once its call has it: what the PDML writes, nothing else.
local function compact(msg)
  msg.from, msg.to, msg.cseq_raw, msg.body_len, msg.head = nil, nil, nil, nil, nil
end

-- Final responses that invite a new INVITE rather than end the call: a
-- challenge (the retry may wait for a person to type a password), session
-- timer and registration interval refusals, glare.
local RETRIED = { [401] = true, [407] = true, [422] = true, [423] = true, [491] = true }

-- A call's last message and whether it is over: a BYE answered, or the
-- INVITE failing before any 2xx (a CANCEL's 487 included; not a challenge
-- or another RETRIED answer). A new request (not an ACK, not a
-- retransmission) means it goes on: another attempt, a re-INVITE. The end
-- is clean when nothing is owed any more: the BYE answered, or the failure
-- acknowledged (its ACK seen); an unacknowledged failure may be resent.
local function note_activity(call, msg)
  if msg.time > call.last_time then call.last_time = msg.time end
  if msg.kind == "request" then
    if msg.method == "ACK" then
      if call.ended_at then call.clean_end = true end
    elseif not msg.retransmission then
      call.ended_at, call.clean_end = nil, false
    end
  elseif msg.status and msg.status >= 200 then
    if msg.cseq_method == "BYE" then
      call.ended_at, call.clean_end = msg.time, true
    elseif msg.cseq_method == "INVITE" then
      if msg.status < 300 then
        call.answered = true
      elseif not call.answered and not RETRIED[msg.status] then
        call.ended_at, call.clean_end = msg.time, false
      end
    end
  end
end

-- Add one parsed SIP message (with frame, time, addresses filled in).
function M.add_message(state, msg)
  state.xheaders_dropped = state.xheaders_dropped + (msg.xheaders_dropped or 0)
  local method = dialog_method(msg)
  local id = msg.call_id
  if id == nil or (method and NON_CALL_METHODS[method]) or msg.call_id_conflict then
    state.sip_messages = state.sip_messages + 1
    count_other(state, id == nil and "(no Call-ID)" or msg.call_id_conflict and "(conflicting Call-IDs)" or method,
                1, msg.frame)
    return
  end
  local call = state.call_by_id[id]
  if call == nil and state.written_ids[id] then
    state.sip_messages = state.sip_messages + 1
    state.late_sip_messages = state.late_sip_messages + 1
    return
  end
  local key = retransmission_key(msg, msg.src .. "\0" .. msg.src_port, msg.dst .. "\0" .. msg.dst_port)
  local seen = call and call.seen[key]
  if seen and msg.size ~= nil and seen.size == msg.size and msg.time >= seen.time
     and msg.time - seen.time <= COPY_WINDOW_S and seen.head == msg.head then
    -- the same frame captured twice (two interfaces, SPAN): not a retransmission, not a message
    -- (byte for byte from the frame's start: a real retransmission has its own IPv4 identification)
    state.sip_copies = state.sip_copies + 1
    if state.first_sip_copy == nil then state.first_sip_copy = msg.frame end
    return
  end
  state.sip_messages = state.sip_messages + 1
  if call == nil then
    if state.call_count >= MAX_CALLS then
      drop_call_message(state, id, method)
      return
    end
    call = { id = id, first_frame = msg.frame, msgs = {}, seen = {}, total = 0,
             retransmissions = 0, dropped = 0, is_call = false, methods = {}, live_streams = {},
             first_time = msg.time, last_time = msg.time, ended_at = nil, clean_end = false, answered = false }
    state.call_by_id[id] = call
    state.call_count = state.call_count + 1
    state.calls[#state.calls + 1] = call
  end
  if method and CALL_METHODS[method] then call.is_call = true end
  note_activity(call, msg)
  if method then call.methods[method] = (call.methods[method] or 0) + 1 end
  call.total = call.total + 1
  if seen then
    msg.retransmission = true
    call.retransmissions = call.retransmissions + 1
    seen.time, seen.size, seen.head = msg.time, msg.size, msg.head
  else
    call.seen[key] = { time = msg.time, size = msg.size, head = msg.head }
  end
  if msg.kind == "request" and msg.sdp and not seen and msg.method ~= "ACK" then
    local requests = call.requests
    if requests == nil then
      requests = {}
      call.requests = requests
    end
    local key = transaction_key(msg)
    if requests[key] == nil then requests[key] = msg.frame end
  end
  -- a retransmission repeats its original's SDP: the original set the streams up
  if msg.sdp and not seen then note_sdp_endpoints(state, msg, call) end
  compact(msg)
  keep(state, call, msg)
end

-- The SDP endpoint a UDP datagram is sent from (or, failing that, to), when
-- its first bytes are an RTP version 2 header with a payload type that SDP
-- lists: {frame, formats}, or nil.
function M.sdp_rtp_endpoint(state, src, src_port, dst, dst_port, b1, b2)
  if b1 < 128 or b1 >= 192 then return nil end
  local ep = state.sdp_endpoints[src .. "|" .. src_port] or state.sdp_endpoints[dst .. "|" .. dst_port]
  if ep and ep.formats[b2 % 128] then return ep end
  return nil
end

M.MAX_SIP_CANDIDATES = 16  -- UDP ports with undecoded SIP-looking text tracked

-- A UDP payload that starts like SIP ("SIP/2.0 " or "METHOD sip:") on a port
-- tshark did not decode as SIP: counted by the server's port (a request's
-- destination, a response's source), for CAP001 to name.
function M.note_sip_candidate(state, frame, head, src_port, dst_port)
  local port
  if head:sub(1, 8) == "SIP/2.0 " then
    port = src_port
  elseif head:find("^%u%u%u+ [Ss][Ii][Pp][Ss]?:") then
    port = dst_port
  else
    return
  end
  local c = state.sip_candidates[port]
  if c == nil then
    if state.candidate_count >= M.MAX_SIP_CANDIDATES then return end
    c = { port = port, frames = 0, first_frame = frame }
    state.sip_candidates[port] = c
    state.candidate_count = state.candidate_count + 1
  end
  c.frames = c.frames + 1
end

local function tls_port(src_port, dst_port)
  return (src_port == 5061 or dst_port == 5061) and 5061 or math.min(src_port, dst_port)
end

function M.note_tls(state, frame, src_port, dst_port)
  local port = tls_port(src_port, dst_port)
  if state.tls_decoded[port] then return end  -- decrypted: its other records (tickets, alerts) are not SIP
  local t = state.tls[port]
  if t == nil then
    if state.tls_count >= MAX_TLS_PORTS then
      state.tls_ports_dropped = state.tls_ports_dropped + 1
      return
    end
    t = { port = port, frames = 0, first_frame = frame }
    state.tls[port] = t
    state.tls_count = state.tls_count + 1
  end
  t.frames = t.frames + 1
end

-- SIP decrypted from TLS between these ports: the TLS on that server port was
-- readable after all (its encrypted handshake records counted before are not a sign).
function M.note_tls_decoded(state, src_port, dst_port)
  local port = tls_port(src_port, dst_port)
  if state.tls_decoded[port] then return end
  state.tls_decoded[port] = true
  if state.tls[port] then
    state.tls[port] = nil
    state.tls_count = state.tls_count - 1
  end
end

-- A new stream for (ssrc, ports key), or nil past the bound. Its setup frame
-- and call are those of the SDP with the latest setup frame that advertised its
-- source (else its destination) address:port: tshark's conversation lookup.
function M.add_stream(state, ssrc, key, src, src_port, dst, dst_port)
  if #state.streams >= MAX_STREAMS then
    state.streams_dropped = state.streams_dropped + 1
    return nil
  end
  local st = new_stream(ssrc)
  local ep = state.sdp_endpoints[src .. "|" .. src_port] or state.sdp_endpoints[dst .. "|" .. dst_port]
  st.src, st.src_port, st.dst, st.dst_port, st.setup_frame = src, src_port, dst, dst_port, ep and ep.frame
  st.clocks = {}
  local call = ep and ep.call
  if call and call.is_call then
    st.call, st.link = call, "setup-frame"
    call.live_streams[#call.live_streams + 1] = st
  end
  state.stream_total = state.stream_total + 1
  local by_ports = state.stream_index[ssrc]
  if by_ports == nil then
    by_ports = {}
    state.stream_index[ssrc] = by_ports
  end
  by_ports[key] = st
  state.streams[#state.streams + 1] = st
  return st
end

-- The clock rate of a payload type in a stream, from its call's SDP (cached).
function M.stream_clock(st, pt)
  local name, rate
  if pt >= 96 and st.call then
    for i = #st.call.msgs, 1, -1 do
      local sdp = st.call.msgs[i].sdp
      if sdp then
        for _, media in ipairs(sdp.media) do
          name, rate = rtpmap_of(media, pt)
          if name then break end
        end
      end
      if name then break end
    end
  end
  local clock = clock_rate(pt, name, rate)
  st.clocks[pt] = clock
  if name and name:lower() == "telephone-event" then
    st.dtmf = st.dtmf or {}
    st.dtmf[pt] = rate or 8000
  end
  return clock
end

-- The m= line of its call's SDP that a stream was negotiated on: the line
-- whose address:port is the stream's destination, else its source; else the
-- line on the stream's destination or source port; else the line whose formats
-- list every payload type the stream carries. Of equally good lines the last
-- SDP's wins (a re-INVITE moves a stream). Sets media_type, media_index,
-- media_port, media_frame.
local function place_stream(st)
  local dst, src = st.dst .. "|" .. st.dst_port, st.src .. "|" .. st.src_port
  local best, rank = nil, 5
  for _, m in ipairs(st.call.msgs) do
    local session = m.sdp
    for index, media in ipairs(session and session.media or {}) do
      local addr = media.connection or session.connection
      local at = addr and media.port and (addr .. "|" .. media.port)
      local r
      if at == dst then
        r = 1
      elseif at == src then
        r = 2
      elseif media.port and media.port > 0 and (media.port == st.dst_port or media.port == st.src_port) then
        r = 3
      else
        local listed = {}
        for pt in (media.formats or ""):gmatch("%d+") do listed[tonumber(pt)] = true end
        r = 4
        for _, pt in ipairs(st.pt_order) do
          if not listed[pt] then r = nil; break end
        end
      end
      if r and r <= rank then best, rank = { media = media, index = index, frame = m.frame }, r end
    end
  end
  if best then
    st.media_type, st.media_index = best.media.type, best.index
    st.media_port, st.media_frame = best.media.port, best.frame
  end
end

-- The set of "address|port" a call's SDPs advertised for media.
local function call_endpoints(call)
  local endpoints = {}
  for _, m in ipairs(call.msgs) do
    for _, media in ipairs(m.sdp and m.sdp.media or {}) do
      local addr = media.connection or m.sdp.connection
      if addr and media.port and media.port > 0 then endpoints[addr .. "|" .. media.port] = true end
    end
  end
  return endpoints
end

-- A stream joins its call's list, placed on its m= line.
local function attach(st)
  local call = st.call
  call.endpoints = call.endpoints or call_endpoints(call)
  place_stream(st)
  st.src_in_sdp = call.endpoints[st.src .. "|" .. st.src_port] == true
  call.streams = call.streams or {}
  call.streams[#call.streams + 1] = st
end

-- Streams without a setup frame go to the call whose SDP advertised their
-- destination (or, failing that, their source) address:port.
local function link_streams(state, calls)
  local by_endpoint = {}
  for _, call in ipairs(calls) do
    call.endpoints = call_endpoints(call)
    for key in pairs(call.endpoints) do
      if by_endpoint[key] == nil or by_endpoint[key].first_frame > call.first_frame then by_endpoint[key] = call end
    end
  end
  local unlinked = {}
  for _, st in ipairs(state.streams) do
    if st.call == nil then
      local call = by_endpoint[st.dst .. "|" .. st.dst_port] or by_endpoint[st.src .. "|" .. st.src_port]
      if call then st.call, st.link = call, "sdp-address" end
    end
    if st.call then attach(st) else unlinked[#unlinked + 1] = st end
  end
  return unlinked
end

-- Whether none of a call's streams carried a packet in the last `quiet` s (capture time `now`, s).
local function media_quiet(call, now, quiet)
  for _, st in ipairs(call.live_streams) do
    if now - st.last_time / 1000 < quiet then return false end
  end
  return true
end

-- Whether a call may be written now (capture time `now`, s): over cleanly
-- with no message and no RTP for `settle` s; over (an unacknowledged
-- failure) with no message for `linger` s; or silent (no SIP, no RTP of its
-- streams) for `idle` s.
local function over(state, call, now)
  local quiet = now - call.last_time
  if call.ended_at then
    local wait = call.clean_end and state.settle or state.linger
    if quiet >= wait and now - call.ended_at >= wait and (not call.clean_end or media_quiet(call, now, wait)) then
      return true
    end
  end
  return quiet >= state.idle and media_quiet(call, now, state.idle)
end

-- What written calls left behind to count their late traffic by is forgotten once due at capture time
-- `now` (s): their Call-IDs, the SDP endpoints they set up (unless a later SDP took one over) and their
-- streams' stand-ins (the late packets these counted stay counted). A call written once over is
-- remembered for `linger` s (SIP's 64*T1: no transaction of it is still retransmitted past that), a
-- call written for being silent for `idle` s (it may still end), or `linger` s if that is longer.
-- After that a message with its Call-ID begins a call and a packet of its stream begins a stream, as
-- in a capture that began then: the tap's memory follows the calls in progress, not the calls written.
local function forget_due(state, queue, now)
  local first = queue.first
  local entry = queue[first]  -- nil past queue.last
  while entry and entry.at <= now do
    queue[first] = nil
    first = first + 1
    local id = entry.id
    if id and state.written_ids[id] then
      state.written_ids[id] = nil
      state.written_id_count = state.written_id_count - 1
    end
    local endpoints = entry.endpoints
    for i = 1, #endpoints, 2 do
      local key, record = endpoints[i], endpoints[i + 1]
      if state.sdp_endpoints[key] == record then
        state.sdp_endpoints[key] = nil
        state.sdp_endpoint_count = state.sdp_endpoint_count - 1
        local users = state.sdp_ports[record.port] - 1
        state.sdp_ports[record.port] = users > 0 and users or nil
      end
    end
    for _, stand_in in ipairs(entry.stand_ins) do
      state.late_rtp_packets = state.late_rtp_packets + stand_in.packets
      local by_ports = state.stream_index[stand_in.ssrc]
      if by_ports and by_ports[stand_in.key] == stand_in then
        by_ports[stand_in.key] = nil
        if next(by_ports) == nil then state.stream_index[stand_in.ssrc] = nil end
      end
      state.header_offset[stand_in.key] = nil  -- a cache: a later stream on these ports learns it again
    end
    entry = queue[first]
  end
  queue.first = first
end

local function forget_written(state, now)
  forget_due(state, state.ended_calls, now)
  forget_due(state, state.silent_calls, now)
end

-- A new entry at the end of a queue of what written calls leave behind, forgotten at capture time `at`.
local function remember(state, queue, at)
  local entry = { at = at, endpoints = {}, stand_ins = {} }
  queue.last = queue.last + 1
  queue[queue.last] = entry
  return entry
end

-- The late RTP packets the stand-ins still remembered have counted.
local function remembered_late_packets(state)
  local count = 0
  for _, queue in ipairs({ state.ended_calls, state.silent_calls }) do
    for i = queue.first, queue.last do
      for _, stand_in in ipairs(queue[i].stand_ins) do count = count + stand_in.packets end
    end
  end
  return count
end

-- The calls that are over at capture time `now` (s), in first-frame order,
-- taken out of the tap's tracking: each gets its streams (by setup frame,
-- and the streams of no call its SDP addresses), ready to render. A
-- Call-ID that never carried a call method is counted as other SIP.
-- Called once per SWEEP_S of capture time.
function M.take_over_calls(state, now)
  state.next_sweep = now + M.SWEEP_S
  forget_written(state, now)
  local done, keep_calls = {}, {}
  for _, call in ipairs(state.calls) do
    if over(state, call, now) then
      done[#done + 1] = call
    else
      keep_calls[#keep_calls + 1] = call
    end
  end
  if #done == 0 then return done end
  state.calls = keep_calls
  -- every call that began before this time is written now or was before: the calls still held began
  -- later (a Call-ID with no call method yet is not waited for), and calls not seen yet begin after now
  local complete_before = now
  for _, call in ipairs(keep_calls) do
    if call.is_call and call.first_time < complete_before then complete_before = call.first_time end
  end
  local written, remembered = {}, {}
  for _, call in ipairs(done) do
    state.call_by_id[call.id] = nil
    state.call_count = state.call_count - 1
    local entry = remember(state, call.ended_at and state.ended_calls or state.silent_calls,
                           now + (call.ended_at and state.linger or math.max(state.idle, state.linger)))
    remembered[call] = entry
    if state.written_id_count < M.MAX_WRITTEN_IDS then
      state.written_ids[call.id] = true
      state.written_id_count = state.written_id_count + 1
      entry.id = call.id
    end
    call.endpoints = call_endpoints(call)
    local endpoints = entry.endpoints
    for key in pairs(call.endpoints) do  -- its addresses no longer hold the call in memory
      local ep = state.sdp_endpoints[key]
      if ep and ep.call == call then
        ep.call = nil
        local n = #endpoints
        endpoints[n + 1] = key
        endpoints[n + 2] = ep
      end
    end
    if call.is_call then
      written[#written + 1] = call
      state.written = state.written + 1
    else
      for method, count in pairs(call.methods) do count_other(state, method, count, call.first_frame) end
    end
  end
  -- their streams leave the tracked list; a stand-in counts what still comes
  local remaining = {}
  for _, st in ipairs(state.streams) do
    local call = st.call
    if call == nil then
      for _, c in ipairs(written) do
        if c.endpoints[st.dst .. "|" .. st.dst_port] or c.endpoints[st.src .. "|" .. st.src_port] then
          st.call, st.link = c, "sdp-address"
          break
        end
      end
      call = st.call
    end
    if call and call.endpoints and state.call_by_id[call.id] == nil then
      attach(st)
      state.written_copies = state.written_copies + st.copies
      if st.first_copy and (state.written_first_copy == nil or st.first_copy < state.written_first_copy) then
        state.written_first_copy = st.first_copy
      end
      -- the stand-in counts late packets (capture copies aside) and nothing else: a whole stream record
      -- per written stream made the tap's memory grow with the calls written, not the calls in progress
      local key = st.src_port * 65536 + st.dst_port
      local stand_in = { ssrc = st.ssrc, key = key, counted_only = true, offset = st.offset, clocks = st.clocks,
                         packets = 0, copies = 0, stop_seq = 0, last_time = 0 }
      local by_ports = state.stream_index[st.ssrc]
      if by_ports and by_ports[key] == st then by_ports[key] = stand_in end
      -- (a call written before whose stream comes only now is remembered from now)
      local entry = remembered[call] or remember(state, state.ended_calls, now + state.linger)
      remembered[call] = entry
      entry.stand_ins[#entry.stand_ins + 1] = stand_in
    else
      remaining[#remaining + 1] = st
    end
  end
  state.streams = remaining
  -- said with the last call written now: a reader has every call written before it then
  if #written > 0 then written[#written].complete_before = complete_before end
  return written
end

-- After a written call's streams were rendered: what RTCP said about them is forgotten.
function M.forget_rtcp(state, call)
  for _, st in ipairs(call.streams or {}) do
    state.rtcp_sender[st.ssrc], state.rtcp_about[st.ssrc], state.rtcp_xr[st.ssrc] = nil, nil, nil
  end
end

-- Capture facts and the calls to write, in a deterministic order.
function M.finish(state)
  local calls, ncalls = {}, 0
  for _, call in ipairs(state.calls) do
    if call.is_call then
      ncalls = ncalls + 1
      calls[ncalls] = call
    else
      -- a Call-ID without call methods (e.g. NOTIFY/INFO only) counts as other SIP
      for method, count in pairs(call.methods) do count_other(state, method, count, call.first_frame) end
    end
  end
  local other_methods = {}
  for method in pairs(state.other_sip) do other_methods[#other_methods + 1] = method end
  table.sort(other_methods)
  local tls = {}
  for _, t in pairs(state.tls) do tls[#tls + 1] = t end
  table.sort(tls, function(a, b) return a.port < b.port end)
  local copies, first_copy = state.sip_copies + state.written_copies, state.first_sip_copy
  if state.written_first_copy and (first_copy == nil or state.written_first_copy < first_copy) then
    first_copy = state.written_first_copy
  end
  local late_rtp = state.late_rtp_packets + remembered_late_packets(state)
  for _, st in ipairs(state.streams) do
    copies = copies + st.copies
    if st.first_copy and (first_copy == nil or st.first_copy < first_copy) then first_copy = st.first_copy end
  end
  local candidates = {}
  for _, c in pairs(state.sip_candidates) do candidates[#candidates + 1] = c end
  table.sort(candidates, function(a, b) return a.port < b.port end)
  local cap = {
    packets = state.packets,
    sip_candidates = candidates,
    step_back = state.step_back,
    step_back_frame = state.step_back_frame,
    step_forward = state.step_forward,
    step_forward_frame = state.step_forward_frame,
    copies = copies,
    first_copy = first_copy,
    start_epoch = state.first_abs,
    duration = (state.base and state.last_abs) and (state.last_abs - state.base) or 0,
    sip_messages = state.sip_messages,
    calls = ncalls + state.written,
    late_sip_messages = state.late_sip_messages,
    late_rtp_packets = late_rtp,
    calls_dropped = state.calls_dropped,
    calls_dropped_messages = state.calls_dropped_messages,
    calls_dropped_at_least = state.dropped_id_count >= MAX_DROPPED_IDS,
    messages_dropped = state.messages_dropped,
    xheaders_dropped = state.xheaders_dropped,
    other_sip = state.other_sip,
    other_first = state.other_first,
    other_methods = other_methods,
    tls = tls,
    tls_ports_dropped = state.tls_ports_dropped,
    snapped_sip_frames = state.snapped_sip_frames,
    tap_errors = state.tap_errors,
    tap_error_samples = state.tap_error_samples,
    rtp_streams = state.stream_total,
    streams_dropped = state.streams_dropped,
    rtp_dropped = state.rtp_dropped,
    rtcp_packets = state.rtcp_packets,
    rtcp_sender = state.rtcp_sender,
    rtcp_about = state.rtcp_about,
    rtcp_xr = state.rtcp_xr,
  }
  cap.unlinked = link_streams(state, calls)
  return cap, calls
end

return M
