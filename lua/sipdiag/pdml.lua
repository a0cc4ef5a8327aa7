--[[
sipdiag.pdml: the PDML document the tap writes (docs/pdml-schema.md is the
contract): one <packet> for the capture, one per call with its messages,
SDP and streams, one for the streams of no known call. Every value taken
from the capture goes through text.xml_attr.

Pure: no Wireshark API, no globals, nothing registered; loading it only
returns the table below.
]]

local text = require("sipdiag.text")
local rtp = require("sipdiag.rtp")
local xml_attr, escape_id = text.xml_attr, text.escape_id
local expected, pps_text, event_key, LATE_BUFFERS = rtp.expected, rtp.pps_text, rtp.event_key, rtp.LATE_BUFFERS

local M = {}

-- The version of docs/pdml-schema.md this module writes (the root's sipdiag_schema).
M.SCHEMA_VERSION = "1.9"
local SCHEMA_VERSION = M.SCHEMA_VERSION

local function fmt_time(t)
  return string.format("%.6f", t)
end

local function fmt_int(n)
  return string.format("%d", math.floor(n))
end

-- map from depth to its indentation
local INDENT = setmetatable({}, { __index = function(t, depth)
  local s = string.rep("  ", depth)
  rawset(t, depth, s)
  return s
end })

-- A map from number to count as "1:12,2:3,7:1", in order of the numbers.
local function counts_text(counts)
  local keys = {}
  for k in pairs(counts) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for i, k in ipairs(keys) do out[i] = fmt_int(k) .. ":" .. fmt_int(counts[k]) end
  return table.concat(out, ",")
end

-- Values from the capture escaped for an attribute, remembered: a call's messages repeat their
-- addresses, tags, branches and header values, and escaping looks at every byte. Bounded: emptied
-- when full.
local MAX_REMEMBERED = 2048
local escaped, remembered = {}, 0
local function attr(value)
  if type(value) ~= "string" then return xml_attr(value) end  -- (a number may be NaN: no table key)
  local done = escaped[value]
  if done == nil then
    done = xml_attr(value)
    if remembered >= MAX_REMEMBERED then escaped, remembered = {}, 0 end
    escaped[value], remembered = done, remembered + 1
  end
  return done
end

-- A writer that appends PDML lines to a table (w.out); depth is the indentation.
local function new_writer()
  local out, n = {}, 0
  local w = { out = out, depth = 0 }
  function w.line(s)
    n = n + 1
    out[n] = INDENT[w.depth] .. s
  end
  function w.field(name, value)  -- value from the capture: escaped
    if value == nil then return end
    n = n + 1
    out[n] = INDENT[w.depth] .. '<field name="' .. name .. '" show="' .. attr(value) .. '"/>'
  end
  function w.value(name, value)  -- value the tap made itself (a number, a token): no escaping needed
    n = n + 1
    out[n] = INDENT[w.depth] .. '<field name="' .. name .. '" show="' .. value .. '"/>'
  end
  function w.open(name, show)
    w.line('<field name="' .. name .. '" show="' .. attr(show) .. '">')
    w.depth = w.depth + 1
  end
  function w.close()
    w.depth = w.depth - 1
    w.line("</field>")
  end
  return w
end

local function bool01(b) return b and "1" or "0" end

local function render_capture(w, cap)
  w.line("<packet>")
  w.depth = w.depth + 1
  w.line('<proto name="sipdiag.capture" showname="sipdiag capture summary">')
  w.depth = w.depth + 1
  w.value("sipdiag.capture.packets", fmt_int(cap.packets))
  if cap.start_epoch then w.value("sipdiag.capture.start_epoch", fmt_time(cap.start_epoch)) end
  w.value("sipdiag.capture.duration", fmt_time(cap.duration or 0))
  w.value("sipdiag.capture.sip_messages", fmt_int(cap.sip_messages))
  w.value("sipdiag.capture.calls", fmt_int(cap.calls))
  -- counts written only when not zero
  local function count_if_any(key)
    if (cap[key] or 0) > 0 then w.value("sipdiag.capture." .. key, fmt_int(cap[key])) end
  end
  count_if_any("late_sip_messages")  -- traffic for calls already written (1.8)
  count_if_any("late_rtp_packets")
  -- what the bounds kept out (1.5)
  if (cap.calls_dropped_messages or 0) > 0 then
    w.value("sipdiag.capture.calls_dropped", fmt_int(cap.calls_dropped))
    w.value("sipdiag.capture.calls_dropped_messages", fmt_int(cap.calls_dropped_messages))
    if cap.calls_dropped_at_least then w.value("sipdiag.capture.calls_dropped_at_least", "1") end
  end
  count_if_any("messages_dropped")
  count_if_any("xheaders_dropped")
  for _, method in ipairs(cap.other_methods) do
    w.open("sipdiag.capture.other_sip", method)
    w.field("sipdiag.capture.other_sip.method", method)
    w.value("sipdiag.capture.other_sip.count", fmt_int(cap.other_sip[method]))
    w.value("sipdiag.capture.other_sip.first_frame", fmt_int(cap.other_first[method]))
    w.close()
  end
  for _, t in ipairs(cap.tls) do
    w.open("sipdiag.capture.tls_undecoded", fmt_int(t.port))
    w.value("sipdiag.capture.tls_undecoded.port", fmt_int(t.port))
    w.value("sipdiag.capture.tls_undecoded.frames", fmt_int(t.frames))
    w.value("sipdiag.capture.tls_undecoded.first_frame", fmt_int(t.first_frame))
    w.close()
  end
  if cap.tls_ports_dropped > 0 then
    w.value("sipdiag.capture.tls_ports_dropped", fmt_int(cap.tls_ports_dropped))
  end
  w.value("sipdiag.capture.rtp_streams", fmt_int(cap.rtp_streams or 0))
  w.value("sipdiag.capture.rtp_streams_unlinked", fmt_int(cap.unlinked and #cap.unlinked or 0))
  if (cap.streams_dropped or 0) > 0 then
    w.value("sipdiag.capture.rtp_streams_dropped", fmt_int(cap.streams_dropped))
    w.value("sipdiag.capture.rtp_packets_dropped", fmt_int(cap.rtp_dropped))
  end
  w.value("sipdiag.capture.rtcp_packets", fmt_int(cap.rtcp_packets or 0))
  w.value("sipdiag.capture.time_backwards_s", fmt_time(cap.step_back or 0))
  if (cap.step_back_frame or 0) > 0 then
    w.value("sipdiag.capture.time_backwards_frame", fmt_int(cap.step_back_frame))
  end
  w.value("sipdiag.capture.time_jump_s", fmt_time(cap.step_forward or 0))
  if (cap.step_forward_frame or 0) > 0 then
    w.value("sipdiag.capture.time_jump_frame", fmt_int(cap.step_forward_frame))
  end
  for _, c in ipairs(cap.sip_candidates or {}) do
    w.open("sipdiag.capture.sip_candidate", fmt_int(c.port))
    w.value("sipdiag.capture.sip_candidate.port", fmt_int(c.port))
    w.value("sipdiag.capture.sip_candidate.frames", fmt_int(c.frames))
    w.value("sipdiag.capture.sip_candidate.first_frame", fmt_int(c.first_frame))
    w.close()
  end
  if (cap.copies or 0) > 0 then
    w.value("sipdiag.capture.duplicate_frames", fmt_int(cap.copies))
    w.value("sipdiag.capture.duplicate_first_frame", fmt_int(cap.first_copy))
  end
  w.value("sipdiag.capture.snapped_sip_frames", fmt_int(cap.snapped_sip_frames))
  w.value("sipdiag.capture.tap_errors", fmt_int(cap.tap_errors))
  for _, e in ipairs(cap.tap_error_samples) do
    w.open("sipdiag.capture.tap_error", e.message)
    w.value("sipdiag.capture.tap_error.frame", fmt_int(e.frame))
    w.field("sipdiag.capture.tap_error.message", e.message)
    w.close()
  end
  w.depth = w.depth - 1
  w.line("</proto>")
  w.depth = w.depth - 1
  w.line("</packet>")
end

local function render_name_addr(w, prefix, na)
  if na == nil then return end
  w.field(prefix .. ".uri", na.uri)
  w.field(prefix .. ".display", na.display)
  w.field(prefix .. ".tag", na.tag)
end

local function render_sdp(w, sdp)
  w.open("sipdiag.sdp", "SDP")
  w.field("sipdiag.sdp.origin", sdp.origin)
  w.field("sipdiag.sdp.session_name", sdp.session_name)
  w.field("sipdiag.sdp.connection", sdp.connection)
  w.field("sipdiag.sdp.direction", sdp.direction)
  if sdp.fingerprint then w.value("sipdiag.sdp.fingerprint", "1") end
  for _, media in ipairs(sdp.media) do
    w.open("sipdiag.sdp.media", media.line)
    w.field("sipdiag.sdp.media.type", media.type)
    if media.port then w.value("sipdiag.sdp.media.port", fmt_int(media.port)) end
    w.field("sipdiag.sdp.media.proto", media.proto)
    w.field("sipdiag.sdp.media.formats", media.formats)
    w.field("sipdiag.sdp.media.connection", media.connection)
    w.field("sipdiag.sdp.media.direction", media.direction)
    for _, map in ipairs(media.rtpmap) do w.field("sipdiag.sdp.media.rtpmap", map) end
    for _, fmtp in ipairs(media.fmtp) do w.field("sipdiag.sdp.media.fmtp", fmtp) end
    w.field("sipdiag.sdp.media.ptime", media.ptime)
    if media.crypto then w.value("sipdiag.sdp.media.crypto", "1") end
    if media.fingerprint then w.value("sipdiag.sdp.media.fingerprint", "1") end
    if media.rtcp_mux then w.value("sipdiag.sdp.media.rtcp_mux", "1") end
    w.close()
  end
  if sdp.media_dropped > 0 then w.value("sipdiag.sdp.media_dropped", fmt_int(sdp.media_dropped)) end
  w.close()
end

local function ms(seconds_or_ms) return string.format("%.3f", seconds_or_ms) end

local function render_stream(w, st, cap)
  w.open("sipdiag.stream", string.format("%s:%d -> %s:%d SSRC 0x%08X", st.src, st.src_port, st.dst,
                                         st.dst_port, st.ssrc))
  w.field("sipdiag.stream.src", st.src)
  w.value("sipdiag.stream.src_port", fmt_int(st.src_port))
  w.field("sipdiag.stream.dst", st.dst)
  w.value("sipdiag.stream.dst_port", fmt_int(st.dst_port))
  w.value("sipdiag.stream.ssrc", string.format("0x%08X", st.ssrc))
  w.field("sipdiag.stream.link", st.link)
  if st.setup_frame then w.value("sipdiag.stream.setup_frame", fmt_int(st.setup_frame)) end
  if st.decoded_by then w.value("sipdiag.stream.decoded_by", st.decoded_by) end
  if st.call then w.value("sipdiag.stream.src_in_sdp", bool01(st.src_in_sdp)) end
  if st.media_type then
    w.field("sipdiag.stream.media_type", st.media_type)
    w.value("sipdiag.stream.media_index", fmt_int(st.media_index))
    if st.media_port then w.value("sipdiag.stream.media_port", fmt_int(st.media_port)) end
    w.value("sipdiag.stream.media_frame", fmt_int(st.media_frame))
  end
  w.value("sipdiag.stream.first_frame", fmt_int(st.first_frame))
  w.value("sipdiag.stream.last_frame", fmt_int(st.last_frame))
  w.value("sipdiag.stream.first_time", fmt_time(st.first_time / 1000))
  w.value("sipdiag.stream.last_time", fmt_time(st.last_time / 1000))
  w.value("sipdiag.stream.packets", fmt_int(st.packets))
  w.value("sipdiag.stream.expected", fmt_int(expected(st)))
  w.value("sipdiag.stream.lost", fmt_int(expected(st) - st.packets))
  w.value("sipdiag.stream.duplicates", fmt_int(st.duplicates))
  w.value("sipdiag.stream.out_of_order", fmt_int(st.out_of_order))
  w.value("sipdiag.stream.seq_errors", fmt_int(st.seq_errors))
  w.value("sipdiag.stream.markers", fmt_int(st.markers))
  w.value("sipdiag.stream.jitter_mean_ms", ms(st.mean_jitter))
  w.value("sipdiag.stream.jitter_max_ms", ms(st.max_jitter))
  w.value("sipdiag.stream.delta_max_ms", ms(st.max_delta))
  w.value("sipdiag.stream.gap_max_s", fmt_time(st.gap_max / 1000))
  w.value("sipdiag.stream.gap_start_time", fmt_time(st.gap_start / 1000))
  w.value("sipdiag.stream.gap_end_frame", fmt_int(st.gap_frame))
  w.value("sipdiag.stream.pps_start", fmt_int(st.pps_start))
  w.value("sipdiag.stream.pps", pps_text(st))
  if st.pps_over > 0 then w.value("sipdiag.stream.pps_uncounted", fmt_int(st.pps_over)) end
  if st.loss_runs then w.value("sipdiag.stream.loss_runs", counts_text(st.loss_runs)) end
  if st.late then
    local late = {}
    for i, size in ipairs(LATE_BUFFERS) do late[size] = st.late[i] end
    w.value("sipdiag.stream.late", counts_text(late))
  end
  for _, gap in ipairs(st.gaps) do
    w.open("sipdiag.stream.gap", fmt_time(gap[1] / 1000))
    w.value("sipdiag.stream.gap.length_s", fmt_time(gap[1] / 1000))
    w.value("sipdiag.stream.gap.start_time", fmt_time(gap[2] / 1000))
    w.value("sipdiag.stream.gap.end_frame", fmt_int(gap[3]))
    w.close()
  end
  if st.events then
    for _, e in ipairs(st.events) do
      w.open("sipdiag.stream.event", event_key(e.event))
      w.value("sipdiag.stream.event.code", fmt_int(e.event))
      w.value("sipdiag.stream.event.key", event_key(e.event))
      w.value("sipdiag.stream.event.pt", fmt_int(e.pt))
      w.value("sipdiag.stream.event.start_time", fmt_time(e.start / 1000))
      w.value("sipdiag.stream.event.duration_ms", fmt_int(e.duration_ms + 0.5))
      w.value("sipdiag.stream.event.frame", fmt_int(e.frame))
      w.value("sipdiag.stream.event.ended", bool01(e.ended))
      if e.end_frame then w.value("sipdiag.stream.event.end_frame", fmt_int(e.end_frame)) end
      w.close()
    end
    if st.events_dropped > 0 then w.value("sipdiag.stream.events_dropped", fmt_int(st.events_dropped)) end
  end
  for _, pt in ipairs(st.pt_order) do
    w.open("sipdiag.stream.payload", fmt_int(pt))
    w.value("sipdiag.stream.payload.pt", fmt_int(pt))
    w.value("sipdiag.stream.payload.packets", fmt_int(st.pts[pt]))
    w.value("sipdiag.stream.payload.clock_rate", fmt_int(st.clocks[pt] or 0))
    if st.pt_first[pt] then w.value("sipdiag.stream.payload.first_frame", fmt_int(st.pt_first[pt])) end
    w.close()
  end
  local sender = cap.rtcp_sender and cap.rtcp_sender[st.ssrc]
  local about = cap.rtcp_about and cap.rtcp_about[st.ssrc]
  local xr = cap.rtcp_xr and cap.rtcp_xr[st.ssrc]
  if sender or about or xr then
    w.open("sipdiag.stream.rtcp", "RTCP")
    if sender then
      w.value("sipdiag.stream.rtcp.sender_reports", fmt_int(sender.sr))
      w.value("sipdiag.stream.rtcp.receiver_reports_sent", fmt_int(sender.rr))
    end
    if about then
      w.value("sipdiag.stream.rtcp.reports", fmt_int(about.reports))
      w.value("sipdiag.stream.rtcp.fraction_lost_max", fmt_int(about.fraction_max))
      w.value("sipdiag.stream.rtcp.cumulative_lost", fmt_int(about.cum_lost))
      w.value("sipdiag.stream.rtcp.first_cumulative_lost", fmt_int(about.first_cum_lost))
      w.value("sipdiag.stream.rtcp.first_ext_seq", fmt_int(about.first_ext_seq))
      w.value("sipdiag.stream.rtcp.last_ext_seq", fmt_int(about.last_ext_seq))
      if about.fraction_frame then
        w.value("sipdiag.stream.rtcp.fraction_lost_max_frame", fmt_int(about.fraction_frame))
      end
      w.value("sipdiag.stream.rtcp.jitter_max", fmt_int(about.jitter_max))
      if about.rtt_n > 0 then
        w.value("sipdiag.stream.rtcp.rtt_count", fmt_int(about.rtt_n))
        w.value("sipdiag.stream.rtcp.rtt_mean_ms", ms(about.rtt_sum / about.rtt_n * 1000))
        w.value("sipdiag.stream.rtcp.rtt_min_ms", ms(about.rtt_min * 1000))
        w.value("sipdiag.stream.rtcp.rtt_max_ms", ms(about.rtt_max * 1000))
        w.value("sipdiag.stream.rtcp.rtt_max_frame", fmt_int(about.rtt_max_frame))
      end
    end
    if xr then
      w.value("sipdiag.stream.rtcp.xr_rtt_ms", fmt_int(xr.rtt_ms))
      w.value("sipdiag.stream.rtcp.xr_loss_rate", fmt_int(xr.loss_rate))
      w.value("sipdiag.stream.rtcp.xr_mos_lq", fmt_int(xr.mos_lq))
      w.value("sipdiag.stream.rtcp.xr_r_factor", fmt_int(xr.r_factor))
    end
    w.close()
  end
  w.close()
end

local function render_message(w, m)
  w.open("sipdiag.msg", m.start_line)
  w.value("sipdiag.msg.frame", fmt_int(m.frame))
  w.value("sipdiag.msg.index", fmt_int(m.index))
  w.value("sipdiag.msg.time", fmt_time(m.time))
  w.field("sipdiag.msg.src", m.src)
  w.value("sipdiag.msg.src_port", fmt_int(m.src_port))
  w.field("sipdiag.msg.dst", m.dst)
  w.value("sipdiag.msg.dst_port", fmt_int(m.dst_port))
  w.field("sipdiag.msg.transport", m.transport)
  w.field("sipdiag.msg.kind", m.kind)
  w.field("sipdiag.msg.method", m.method)
  w.field("sipdiag.msg.request_uri", m.request_uri)
  if m.status then w.value("sipdiag.msg.status", fmt_int(m.status)) end
  w.field("sipdiag.msg.reason", m.reason)
  if m.cseq then w.value("sipdiag.msg.cseq", fmt_int(m.cseq)) end
  w.field("sipdiag.msg.cseq_method", m.cseq_method)
  w.field("sipdiag.msg.branch", m.branch)
  w.field("sipdiag.msg.from_tag", m.from_addr and m.from_addr.tag)
  w.field("sipdiag.msg.to_tag", m.to_addr and m.to_addr.tag)
  w.value("sipdiag.msg.retransmission", bool01(m.retransmission))
  w.value("sipdiag.msg.has_sdp", bool01(m.has_sdp))
  w.field("sipdiag.msg.content_type", m.content_type)
  w.field("sipdiag.msg.user_agent", m.user_agent)
  w.field("sipdiag.msg.server", m.server)
  w.field("sipdiag.msg.contact", m.contact)
  for _, r in ipairs(m.reasons) do w.field("sipdiag.msg.reason_header", r) end
  for _, r in ipairs(m.warnings) do w.field("sipdiag.msg.warning", r) end
  w.field("sipdiag.msg.refer_to", m.refer_to)
  w.field("sipdiag.msg.event", m.event)
  w.field("sipdiag.msg.subscription_state", m.subscription_state)
  w.field("sipdiag.msg.retry_after", m.retry_after)
  w.field("sipdiag.msg.sipfrag", m.sipfrag)
  w.field("sipdiag.msg.auth_realm", m.auth_realm)
  w.field("sipdiag.msg.auth_username", m.auth_username)
  w.field("sipdiag.msg.via_sent_by", m.via_sent_by)
  w.field("sipdiag.msg.via_received", m.via_received)
  if m.via_rport then w.value("sipdiag.msg.via_rport", fmt_int(tonumber(m.via_rport))) end
  w.field("sipdiag.msg.replaces", m.replaces)
  w.field("sipdiag.msg.body", m.body)
  for _, x in ipairs(m.xheaders) do
    w.open("sipdiag.msg.xheader", x.name .. ": " .. x.value)
    w.field("sipdiag.msg.xheader.name", x.name)
    w.field("sipdiag.msg.xheader.value", x.value)
    w.close()
  end
  if m.xheaders_dropped > 0 then
    w.value("sipdiag.msg.xheaders_dropped", fmt_int(m.xheaders_dropped))
  end
  if m.sdp then render_sdp(w, m.sdp) end
  w.close()
end

local function render_call(w, call, cap)
  w.line("<packet>")
  w.depth = w.depth + 1
  local id = escape_id(call.id)  -- distinct calls stay distinct, and their bytes can be recovered
  w.line('<proto name="sipdiag.call" showname="sipdiag call ' .. xml_attr(id) .. '">')
  w.depth = w.depth + 1
  w.field("sipdiag.call.id", id)
  w.value("sipdiag.call.first_frame", fmt_int(call.first_frame))
  w.value("sipdiag.call.messages", fmt_int(call.total))
  w.value("sipdiag.call.retransmissions", fmt_int(call.retransmissions))
  w.value("sipdiag.call.messages_dropped", fmt_int(call.dropped))
  if call.complete_before then w.value("sipdiag.call.complete_before", fmt_time(call.complete_before)) end
  local first = call.msgs[1]
  if first then
    render_name_addr(w, "sipdiag.call.from", first.from_addr)
    render_name_addr(w, "sipdiag.call.to", first.to_addr)
  end
  for _, m in ipairs(call.msgs) do render_message(w, m) end
  for _, st in ipairs(call.streams or {}) do render_stream(w, st, cap) end
  w.depth = w.depth - 1
  w.line("</proto>")
  w.depth = w.depth - 1
  w.line("</packet>")
end

-- The document's opening: the XML declaration and the <pdml> root.
-- header: { creator=, wireshark=, lua= }.
function M.opening(header)
  return '<?xml version="1.0" encoding="utf-8"?>\n<pdml version="0" creator="' .. xml_attr(header.creator)
         .. '" sipdiag_schema="' .. SCHEMA_VERSION .. '" wireshark="' .. xml_attr(header.wireshark)
         .. '" lua="' .. xml_attr(header.lua) .. '"'
         .. (header.start_epoch and (' start_epoch="' .. fmt_time(header.start_epoch) .. '"') or "") .. '>\n'
end

-- One call's <packet> as text (its streams' RTCP looked up in `rtcp`, the
-- capture or the tap's state); nil and the error when it cannot be rendered.
function M.call_text(call, rtcp)
  local w = new_writer()
  local ok, err = pcall(render_call, w, call, rtcp)
  if not ok then return nil, err end
  return table.concat(w.out, "\n") .. "\n"
end

-- The rest of a document after the calls already written: the calls given,
-- the streams of no call, the capture record, the root's end, as chunks.
-- A call that cannot be rendered is left out and counted as a tap error
-- (on_error), so the document stays well-formed.
function M.closing(cap, calls, on_error)
  local chunks = {}
  for _, call in ipairs(calls) do
    local text, err = M.call_text(call, cap)
    if text then
      chunks[#chunks + 1] = text
    elseif on_error then
      on_error(call.first_frame, "rendering call: " .. tostring(err))
    end
  end
  if cap.unlinked and #cap.unlinked > 0 then
    local u = new_writer()
    local ok, err = pcall(function()
      u.line("<packet>")
      u.depth = 1
      u.line('<proto name="sipdiag.unlinked" showname="sipdiag RTP streams of no known call">')
      u.depth = 2
      for _, st in ipairs(cap.unlinked) do render_stream(u, st, cap) end
      u.depth = 1
      u.line("</proto>")
      u.depth = 0
      u.line("</packet>")
    end)
    if ok then
      chunks[#chunks + 1] = table.concat(u.out, "\n") .. "\n"
    elseif on_error then
      on_error(0, "rendering unlinked streams: " .. tostring(err))
    end
  end
  local w = new_writer()
  render_capture(w, cap)  -- last: its counts are known only at the end
  chunks[#chunks + 1] = table.concat(w.out, "\n") .. "\n"
  chunks[#chunks + 1] = "</pdml>\n"
  return chunks
end

-- The whole PDML document for a collected state, as chunks (written one by
-- one: no copy of the whole document): the opening, the calls, the streams of
-- no call, the capture record last (schema 1.8).
function M.render(header, cap, calls, on_error)
  local chunks = M.closing(cap, calls, on_error)
  table.insert(chunks, 1, M.opening(header))
  return chunks
end

return M
