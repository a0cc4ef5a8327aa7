--[[
sipdiag.lua: a tshark/Wireshark tap that summarises every SIP call of a capture
as PDML, for the sipdiag post-processor (or for reading by eye).

Usage (tshark 3.6 to 4.6, Lua 5.1 to 5.4):

    tshark -q -n -r CAPTURE -X lua_script:lua/sipdiag.lua -X lua_script1:out=SUMMARY.pdml

Without "out=" the PDML goes to stdout. Extra tshark options work as usual, e.g.
"-d tcp.port==6060,sip" for SIP on a non-standard port, or
"-o tls.keylog_file:KEYS" to decode SIP over TLS.

Sample output (abridged; the full contract is docs/pdml-schema.md):

    <?xml version="1.0" encoding="utf-8"?>
    <pdml version="0" creator="sipdiag/0.1.0" sipdiag_schema="1.9" wireshark="4.0.17" lua="Lua 5.2">
    <packet>
      <proto name="sipdiag.call" showname="sipdiag call busy-1@sipdiag.test">
        <field name="sipdiag.call.id" show="busy-1@sipdiag.test"/>
        ...
        <field name="sipdiag.msg" show="SIP/2.0 486 Busy Here">
          <field name="sipdiag.msg.frame" show="3"/>
          <field name="sipdiag.msg.index" show="1"/>
          <field name="sipdiag.msg.time" show="0.303382"/>
          ...
          <field name="sipdiag.msg.status" show="486"/>
          ...
        </field>
      </proto>
    </packet>
    <packet>
      <proto name="sipdiag.capture" showname="sipdiag capture summary">
        <field name="sipdiag.capture.packets" show="4"/>
        <field name="sipdiag.capture.calls" show="1"/>
        ...
      </proto>
    </packet>
    </pdml>

Each call is written as soon as it is over (its BYE answered or its failed
INVITE acknowledged, then 5 s without a message or RTP; a failure never
acknowledged, 32 s without a message; or 600 s without SIP or RTP), so
memory follows the calls in progress and the file can be read while tshark
writes it; the capture record comes last. The timers are arguments:
"-X lua_script1:settle=SECONDS -X lua_script1:linger=SECONDS -X lua_script1:idle=SECONDS".

This file holds what needs Wireshark: the field extractors, the listeners and
their hot path, and the Tools menu. The rest lives in the sipdiag/ folder
beside it, modules free of Wireshark API that plain `lua` loads for tests
(tests/lua/):

    sipdiag.text    bounding text and escaping it for XML
    sipdiag.sip     one SIP message's text read into a table
    sipdiag.sdp     SDP in a message body, and what its m= lines say
    sipdiag.frame   a frame's bytes that plainly hold one whole UDP datagram
    sipdiag.rtp     one RTP stream's accounting, packet by packet
    sipdiag.rtcp    RTCP packets and what the reports say about each stream
    sipdiag.pdml    the PDML document (its schema version)
    sipdiag.state   what one pass collects, assembled into calls
    sipdiag.brief   the Tools menu's summary, call filter and call choice

Installed as a plugin (sipdiag.lua and the sipdiag/ folder in a Wireshark
plugins folder), Wireshark also runs each module file as a plugin of its own:
they only return their table.
]]

local TAP_VERSION = "0.1.0"

-- A copy in a Wireshark plugins folder is loaded by every tshark too: there it
-- stays silent, so `tshark -X lua_script:...` runs the tap once. It returns
-- before declaring a field: a declared field makes every tshark run build
-- the protocol tree of every packet (five times the work of a plain read).
local function loaded_as_plugin()
  local source = (debug.getinfo(1, "S").source or ""):lower():gsub("\\", "/")
  return source:find("/wireshark/plugins/", 1, true) ~= nil
end
if not gui_enabled() and loaded_as_plugin() then return end

-- The sipdiag.* modules from the folder of this file. Wireshark puts a
-- script's folder and the plugin folders on package.path, but all scripts and
-- plugins share one Lua state: another copy (an installed plugin) may have
-- loaded its own modules already, and a script run by dofile has no folder
-- of its own on the path. So the modules are loaded afresh from here, and
-- everything the callbacks use is kept in locals: no lookup through a module
-- table per packet.
local text, sip, rtp, rtcp, pdml, collect, brief, frame_bytes
do
  local here = (debug.getinfo(1, "S").source or ""):match("^@(.*[/\\])") or ""
  local saved = package.path
  package.path = here .. "?.lua;" .. saved
  for name in pairs(package.loaded) do
    if name:sub(1, 8) == "sipdiag." then package.loaded[name] = nil end
  end
  text, sip, rtp = require("sipdiag.text"), require("sipdiag.sip"), require("sipdiag.rtp")
  rtcp, pdml = require("sipdiag.rtcp"), require("sipdiag.pdml")
  collect, brief = require("sipdiag.state"), require("sipdiag.brief")
  frame_bytes = require("sipdiag.frame")
  package.path = saved
end
local trim = text.trim
local parse_sip, whole_message = sip.parse, sip.whole_message
local udp_payload = frame_bytes.udp_payload
local rtp_packet, rtp_event, event_payload = rtp.packet, rtp.event, rtp.event_payload
local parse_rtcp, add_rtcp = rtcp.parse, rtcp.add
local render_pdml, pdml_opening, pdml_call_text, pdml_closing = pdml.render, pdml.opening, pdml.call_text,
  pdml.closing
local new_state, note_error, add_message, note_tls = collect.new, collect.note_error, collect.add_message,
                                                     collect.note_tls
local note_tls_decoded = collect.note_tls_decoded
local note_step, SKIP_JUMP_S = collect.note_step, collect.SKIP_JUMP_S
local note_sip_candidate = collect.note_sip_candidate
local add_stream, stream_clock, sdp_rtp_endpoint = collect.add_stream, collect.stream_clock,
                                                   collect.sdp_rtp_endpoint
local finish, take_over_calls, forget_rtcp = collect.finish, collect.take_over_calls, collect.forget_rtcp
local summary, call_filter, pick_call = brief.summary, brief.call_filter, brief.pick_call

---------------------------------------------------------------------------
-- The tap
---------------------------------------------------------------------------

-- No Field.new: declaring any field makes wslua add a tap that fills the
-- frame's whole subtree in every packet (about 0.7 G instructions per 100k
-- packets, whatever the field). The rare callbacks read the protocols they
-- need from the packet's tree instead (protocol items are always built),
-- and the RTP hot path reads the frame's bytes.

-- The packet's protocol items whose names are in `wanted` (a set): map from
-- name to an array of FieldInfo, in tree order. Rare callbacks only: it walks
-- every item of the packet's tree.
local function protocols(wanted)
  local found = {}
  for _, fi in ipairs({ all_field_infos() }) do
    local name = fi.name
    if wanted[name] then
      local list = found[name]
      if list == nil then
        list = {}
        found[name] = list
      end
      list[#list + 1] = fi
    end
  end
  return found
end

-- Script arguments: -X lua_script1:out=PATH, and how long a call stays in
-- memory once over or silent: -X lua_script1:linger=SECONDS, -X lua_script1:idle=SECONDS
local script_args = { ... }
local out_path = nil
local timers = {}
for _, arg in ipairs(script_args) do
  local v = arg:match("^out=(.+)$")
  if v then out_path = v end
  local name, seconds = arg:match("^(%a+)=(%d+%.?%d*)$")
  if name == "linger" or name == "idle" or name == "settle" then timers[name] = tonumber(seconds) end
end

-- map from pinfo.port_type to transport name (epan/address.h, stable since 1.x)
local PORT_TYPES = { [1] = "SCTP", [2] = "TCP", [3] = "UDP" }

-- A fresh state with the timers the script was given.
local function fresh_state()
  local st = new_state()
  st.linger, st.idle, st.settle = timers.linger or st.linger, timers.idle or st.idle, timers.settle or st.settle
  return st
end

local state = fresh_state()
-- streaming (see sweep below): the absolute time of the next look for calls
-- that are over, and the function that writes them (set further down)
local sweep_abs = math.huge
local sweep
local last_sip_frame = -1   -- the sip tap runs once per SIP PDU; a frame is read once

local function note_time(pinfo)
  local t = pinfo.abs_ts
  if state.first_abs == nil then state.first_abs, state.base = t, t end
  local step = t - (state.last_abs or t)
  if step > state.step_forward or -step > state.step_back or step > SKIP_JUMP_S then  -- rare
    note_step(state, t, function() return pinfo.number end)
  end
  state.last_abs = t
  return t
end

local function transport_of(pinfo, found)
  local ws, tls = found.websocket, found.tls
  if ws then return tls and "WSS" or "WS" end
  if tls then return "TLS" end
  local ok, pt = pcall(function() return pinfo.port_type end)
  return (ok and PORT_TYPES[pt]) or "UNKNOWN"
end

local SIP_PROTOCOLS = { sip = true, websocket = true, tls = true }

-- HEAD_BYTES: how much of a SIP frame's start (link, IP, UDP headers) tells a
-- capture copy (byte-identical) from a retransmission (its own IPv4 identification)
local HEAD_BYTES = 64

-- Where the last SIP message read through the tree began its frame's IP
-- header (a byte offset) and which IP version that header was: captures
-- mostly keep one encapsulation, so the next SIP message over UDP is there too
local sip_ip_at, sip_ip_version = nil, nil

-- The SIP message of a frame that plainly holds one UDP datagram at the
-- offset the last message read through the tree had (see sipdiag.frame and
-- sip.whole_message), or nil: the frame's bytes, without listing the tree's
-- items (the tree path makes a FieldInfo per item, a hundred or more per
-- message with SDP).
local function plain_udp_message(pinfo, tvb, length)
  if sip_ip_at == nil or sip_ip_at >= length then return nil end
  local raw = udp_payload(tvb:raw(sip_ip_at), sip_ip_version, pinfo.src_port, pinfo.dst_port)
  if raw and whole_message(raw) then return raw end
  return nil
end

-- After reading a frame's one SIP message through the tree: where its IP
-- header began, when the frame plainly holds it as one UDP datagram.
local function learn_sip_offset(pinfo, tvb, length, at, raw)
  if at + #raw ~= length or not whole_message(raw) then return end
  for _, candidate in ipairs({ { at - 28, 4 }, { at - 48, 6 } }) do
    local ip_at, version = candidate[1], candidate[2]
    if ip_at >= 0 and udp_payload(tvb:raw(ip_at), version, pinfo.src_port, pinfo.dst_port) == raw then
      sip_ip_at, sip_ip_version = ip_at, version
      return
    end
  end
end

local function read_sip_frame(pinfo, tvb)
  local frame = pinfo.number
  local length = tvb and tvb:len() or 0
  local head = length > 0 and tvb:raw(0, length < HEAD_BYTES and length or HEAD_BYTES) or nil
  if pinfo.caplen < pinfo.len then state.snapped_sip_frames = state.snapped_sip_frames + 1 end
  local plain = plain_udp_message(pinfo, tvb, length)
  local pdus, transport
  if plain then
    pdus, transport = { plain }, "UDP"
  else
    local found = protocols(SIP_PROTOCOLS)
    transport = transport_of(pinfo, found)
    pdus = found.sip or {}
    if found.tls and #pdus > 0 then note_tls_decoded(state, pinfo.src_port, pinfo.dst_port) end
  end
  local src, dst = tostring(pinfo.src), tostring(pinfo.dst)
  local src_port, dst_port = pinfo.src_port, pinfo.dst_port
  local time = pinfo.abs_ts - state.base
  local first_raw = nil
  for index = 1, #pdus do
    local ok, err = pcall(function()
      local raw = plain or pdus[index].range:raw()
      if index == 1 then first_raw = raw end
      local msg = parse_sip(raw)
      msg.frame, msg.index, msg.time, msg.size = frame, index, time, #raw
      msg.src, msg.dst, msg.src_port, msg.dst_port = src, dst, src_port, dst_port
      msg.transport, msg.head = transport, head
      add_message(state, msg)
    end)
    if not ok then note_error(state, frame, err) end
  end
  if plain == nil and #pdus == 1 and first_raw and transport == "UDP" then
    learn_sip_offset(pinfo, tvb, length, pdus[1].offset, first_raw)
  end
end

local RTP_PROTOCOL = { rtp = true }
-- Tvb's raw method, looked up once (the same function for every Tvb)
local tvb_raw = nil
-- where the RTP header sat in the last RTP frame read through the field:
-- captures mostly keep one encapsulation, so the next header is there too
local guess = 0

-- The hot path: every RTP packet. Nothing is formatted and no userdata is
-- made per packet once a stream is known: the UDP ports and the RTP header
-- are read from the frame's bytes at the offset where the stream's first
-- packet had them (learnt from the rtp field, verified byte for byte), and
-- the stream is found through numeric keys. Anything else (a new stream,
-- another encapsulation, RTP over TCP) takes the field's path.
-- An RFC 4733 telephone-event packet (rare: only on a payload type the call's
-- SDP maps to telephone-event): its bytes from where the RTP header starts,
-- or the rtp field's where that offset is unknown.
local function read_event(st, pt, tvb, offset, ts, t_ms, number)
  local raw
  if offset and offset < tvb:len() then
    raw = tvb:raw(offset)
  else
    local fi = (protocols(RTP_PROTOCOL).rtp or {})[1]
    if fi == nil then return end
    raw = fi.range:raw()
  end
  local event, flags, duration = event_payload(raw)
  if event then rtp_event(st, pt, event, flags, duration, st.dtmf[pt], ts, t_ms, number) end
end

local function read_rtp(pinfo, tvb, number)
  local abs = pinfo.abs_ts
  if state.first_abs == nil then state.first_abs, state.base = abs, abs end
  local step = abs - (state.last_abs or abs)
  if step > state.step_forward or -step > state.step_back or step > SKIP_JUMP_S then
    note_step(state, abs, function() return number end)
  end
  state.last_abs = abs
  local st, b1, b2, s1, s2, t1, t2, t3, t4, x1, x2, x3, x4
  if guess > 8 then
    -- one read: the frame from the UDP header on (the stream's usual offset),
    -- protected because another encapsulation can make this frame shorter
    local ok, tail = pcall(tvb_raw, tvb, guess - 8)
    if ok and #tail >= 20 then
      local p1, p2, q1, q2, _
      p1, p2, q1, q2, _, _, _, _, b1, b2, s1, s2, t1, t2, t3, t4, x1, x2, x3, x4 = tail:byte(1, 20)
      local by_ports = state.stream_index[((x1 * 256 + x2) * 256 + x3) * 256 + x4]
      st = by_ports and by_ports[(p1 * 256 + p2) * 65536 + q1 * 256 + q2]
      if st and st.offset ~= guess then st = nil end
    end
  end
  if st == nil then
    local src_port, dst_port = pinfo.src_port, pinfo.dst_port
    local key = src_port * 65536 + dst_port
    local header_offset = state.header_offset
    local offset = header_offset[key]
    if offset and offset + 12 <= tvb:len() then
      b1, b2, s1, s2, t1, t2, t3, t4, x1, x2, x3, x4 = tvb:raw(offset, 12):byte(1, 12)
      local by_ports = state.stream_index[((x1 * 256 + x2) * 256 + x3) * 256 + x4]
      st = by_ports and by_ports[key]
    end
    if st == nil then
      local fi = (protocols(RTP_PROTOCOL).rtp or {})[1]
      if fi == nil then return end
      local header = fi.range:raw(0, 12)
      b1, b2, s1, s2, t1, t2, t3, t4, x1, x2, x3, x4 = header:byte(1, 12)
      if b1 < 128 or b1 >= 192 then return end  -- not RTP version 2
      offset = nil
      if fi.offset + 12 <= tvb:len() and tvb:raw(fi.offset, 12) == header then
        offset = fi.offset
        header_offset[key] = offset
        guess = offset
      end
      local ssrc = ((x1 * 256 + x2) * 256 + x3) * 256 + x4
      local by_ports = state.stream_index[ssrc]
      st = by_ports and by_ports[key]
      if st == nil then
        st = add_stream(state, ssrc, key, tostring(pinfo.src), src_port, tostring(pinfo.dst), dst_port)
        if st == nil then
          state.rtp_dropped = state.rtp_dropped + 1
          return
        end
      end
      -- the fast path may use this offset only where the UDP header precedes the RTP header
      if offset and offset >= 8 then
        local u1, u2, v1, v2 = tvb:raw(offset - 8, 4):byte(1, 4)
        if u1 * 256 + u2 == src_port and v1 * 256 + v2 == dst_port then st.offset = offset end
      end
    end
  end
  local pt = b2 % 128
  local t_ms, ts = (abs - state.base) * 1000, ((t1 * 256 + t2) * 256 + t3) * 256 + t4
  rtp_packet(st, t_ms, s1 * 256 + s2, ts, pt, b2 >= 128, st.clocks[pt] or stream_clock(st, pt), number)
  local dtmf = st.dtmf
  if dtmf and dtmf[pt] then
    read_event(st, pt, tvb, st.offset or state.header_offset[pinfo.src_port * 65536 + pinfo.dst_port], ts, t_ms,
               number)
  end
  if abs >= sweep_abs then sweep(abs) end
end

-- UDP that tshark did not decode as RTP (Wireshark 4.0 misses some streams a
-- re-INVITE sets up) but that is sent to or from an address:port an earlier
-- SDP advertised, and starts with an RTP header of a payload type that SDP
-- lists. Read like any stream and marked decoded_by "sipdiag".
local function read_sdp_udp(pinfo, tvb, layers)
  local src_port, dst_port = pinfo.src_port, pinfo.dst_port
  if not (state.sdp_ports[dst_port] or state.sdp_ports[src_port]) then return end
  local udp = layers and layers[#layers]  -- the innermost UDP of a tunnel
  if udp == nil then return end
  local offset = udp.offset + 8
  if offset + 12 > tvb:len() then return end
  local u1, u2, v1, v2 = tvb:raw(udp.offset, 4):byte(1, 4)
  if u1 * 256 + u2 ~= src_port or v1 * 256 + v2 ~= dst_port then return end  -- not in the frame's own bytes
  local b1, b2, s1, s2, t1, t2, t3, t4, x1, x2, x3, x4 = tvb:raw(offset, 12):byte(1, 12)
  local src, dst = tostring(pinfo.src), tostring(pinfo.dst)
  local ep = sdp_rtp_endpoint(state, src, src_port, dst, dst_port, b1, b2)
  if ep == nil then return end
  local abs = pinfo.abs_ts
  local key = src_port * 65536 + dst_port
  local ssrc = ((x1 * 256 + x2) * 256 + x3) * 256 + x4
  local by_ports = state.stream_index[ssrc]
  local st = by_ports and by_ports[key]
  if st == nil then
    st = add_stream(state, ssrc, key, src, src_port, dst, dst_port)
    if st == nil then
      state.rtp_dropped = state.rtp_dropped + 1
      return
    end
    st.decoded_by = "sipdiag"
    if st.call then st.link = "sdp-address" end
  end
  local pt = b2 % 128
  local t_ms, ts = (abs - state.base) * 1000, ((t1 * 256 + t2) * 256 + t3) * 256 + t4
  rtp_packet(st, t_ms, s1 * 256 + s2, ts, pt, b2 >= 128, st.clocks[pt] or stream_clock(st, pt), pinfo.number)
  local dtmf = st.dtmf
  if dtmf and dtmf[pt] then read_event(st, pt, tvb, offset, ts, t_ms, pinfo.number) end
end

-- While no SIP has been decoded: UDP whose payload starts like SIP on a port
-- tshark gave to another dissector (CAP001 names the port).
local function look_for_sip(pinfo, tvb, layers)
  local udp = layers and layers[#layers]
  if udp == nil then return end
  local offset = udp.offset + 8
  if offset + 12 > tvb:len() then return end
  note_sip_candidate(state, pinfo.number, tvb:raw(offset, 12), pinfo.src_port, pinfo.dst_port)
end

-- Whether RTCP between these address:ports belongs to SRTP (RTP/SAVP in the
-- SDP that advertised the RTP port below, or the port itself with rtcp-mux).
local function srtcp(src, src_port, dst, dst_port)
  local eps = state.sdp_endpoints
  for _, key in ipairs({ dst .. "|" .. (dst_port - 1), src .. "|" .. (src_port - 1), dst .. "|" .. dst_port,
                         src .. "|" .. src_port }) do
    local ep = eps[key]
    if ep then return ep.secure end
  end
  return false
end

local function read_rtcp(pinfo, items)
  local t = pinfo.abs_ts - state.base
  -- SRTCP (encrypted, as SRTP's usually is): only the first 8 bytes (header, sender SSRC) are in clear
  local clear = srtcp(tostring(pinfo.src), pinfo.src_port, tostring(pinfo.dst), pinfo.dst_port) and 8 or nil
  for i = 1, #items do
    local raw = items[i].range:raw()
    local packet = parse_rtcp(clear and raw:sub(1, clear) or raw)
    if packet then
      state.rtcp_packets = state.rtcp_packets + 1
      add_rtcp(state, packet, t, pinfo.number)
    end
  end
end

local function header()
  return { creator = "sipdiag/" .. TAP_VERSION, wireshark = (get_version and get_version()) or "unknown",
           lua = _VERSION, start_epoch = state.first_abs }
end

-- The PDML document of what the taps collected (the Tools menu: no call written before).
local function render_document()
  local cap, calls = finish(state)
  return render_pdml(header(), cap, calls, function(frame, err)
    note_error(state, frame, err)
    cap.tap_errors = state.tap_errors
  end), cap, calls
end

-- Lua's own pace of collection frees the tap's garbage a little at a time, interleaved with
-- tshark's allocations, and glibc's malloc then works harder (the 600k bench with no collection at
-- all: 13% faster for the same instruction count). Under tshark the tap sets the pace: the
-- collector is stopped and run whole once the heap has doubled since the last whole collection
-- (grown by GARBAGE_KIB at least), about where Lua's default pause starts a cycle: 7% faster on
-- the 600k bench, 10% on 2,400 calls, no more memory. The heap is looked at every CHECK_EVERY
-- packets and after each call a sweep writes; the end is left to Lua's own pace. Never in
-- Wireshark's GUI, whose Lua state other plugins share.
local CHECK_EVERY, GARBAGE_KIB = 1024, 4096
local paced = false  -- true once the tap sets the pace (tshark)
local check_at, collect_above = math.huge, 0
local function pace_collector()
  if not paced then return end
  check_at = state.packets + CHECK_EVERY
  if collectgarbage("count") < collect_above then return end
  collectgarbage("collect")
  collectgarbage("stop")  -- Lua 5.1's whole collection sets the pace going again
  local live = collectgarbage("count")
  collect_above = live + (live > GARBAGE_KIB and live or GARBAGE_KIB)
end

-- tshark runs: the document is written as the capture is read. Each call is
-- written (and forgotten) once it is over, so memory follows the calls in
-- progress, and a reader can follow the file while tshark runs.
local streaming = false  -- true when the tap writes out= or stdout (not in the Tools menu's retaps)
local output = nil       -- the document being written: a file or io.stdout; false once it failed

local function open_output()
  if output == nil then
    if out_path == nil then
      output = io.stdout
    else
      local fh, err = io.open(out_path, "wb")
      if not fh then
        io.stderr:write("sipdiag: cannot write " .. out_path .. ": " .. tostring(err) .. "\n")
        output = false
        return false
      end
      output = fh
    end
    output:write(pdml_opening(header()))
  end
  return output
end

-- The calls over at capture time `abs`, written now.
sweep = function(abs)
  local done = take_over_calls(state, abs - state.base)
  sweep_abs = state.base + state.next_sweep
  if #done == 0 then return end
  local fh = open_output()
  for _, call in ipairs(done) do
    local text, err = pdml_call_text(call, state)
    if text == nil then
      note_error(state, call.first_frame, "rendering call: " .. tostring(err))
    elseif fh then
      fh:write(text)
    end
    forget_rtcp(state, call)
    pace_collector()
  end
  if fh then fh:flush() end
end

-- Write a document (its chunks) to path, replacing it only once complete; true or nil, error.
local function write_document(doc, path)
  local part = path .. ".part"
  local fh, err = io.open(part, "wb")
  if not fh then return nil, err end
  for _, chunk in ipairs(doc) do
    local ok, write_err = fh:write(chunk)
    if not ok then
      fh:close()
      os.remove(part)
      return nil, write_err
    end
  end
  fh:close()
  os.remove(path)
  local ok, rename_err = os.rename(part, path)
  if not ok then return nil, rename_err end
  return true
end

-- tshark's end of the capture: the calls still open, the streams of no
-- call and the capture record end the document begun by the first call written.
local function write_output()
  if paced then collectgarbage("restart") end  -- what remains is written at once: Lua's own pace
  local fh = open_output()
  local cap, calls = finish(state)
  local chunks = pdml_closing(cap, calls, function(frame, err)
    note_error(state, frame, err)
    cap.tap_errors = state.tap_errors
  end)
  if not fh then return end
  for _, chunk in ipairs(chunks) do
    local ok, err = fh:write(chunk)
    if not ok then
      io.stderr:write("sipdiag: cannot write " .. (out_path or "stdout") .. ": " .. tostring(err) .. "\n")
      return
    end
  end
  if fh ~= io.stdout then fh:close() else fh:flush() end
end

local last_rtp_frame = -1  -- the rtp tap runs once per RTP PDU; a frame is counted once

local function reset_state()
  state = fresh_state()
  sweep_abs = streaming and -math.huge or math.huge
  last_sip_frame = -1
  last_rtp_frame = -1
  if paced then check_at = CHECK_EVERY end
  guess = 0
  sip_ip_at, sip_ip_version = nil, nil
end

-- Everything in a frame that is not RTP: RTCP, TLS that no dissector turned
-- into SIP, and UDP to SDP endpoints that tshark left undecoded.
local OTHER_PROTOCOLS = { icmp = true, icmpv6 = true, rtcp = true, sip = true, tls = true, udp = true }

-- Whether TLS records carry application data (record type 23): the first
-- record's header, as tshark's tls.app_data would show it.
-- True when any TLS record in the items is application data (content type 23):
-- each item may hold several records (a TLS 1.3 server flight puts its
-- handshake and its first encrypted records in one segment), so walk them.
local function tls_app_data(items)
  for _, fi in ipairs(items) do
    local range = fi.range
    local raw = range and range:raw() or ""
    local pos = 1
    while pos + 4 <= #raw do
      if raw:byte(pos) == 23 then return true end
      local length = raw:byte(pos + 3) * 256 + raw:byte(pos + 4)
      pos = pos + 5 + length
    end
  end
  return false
end

local function read_other(pinfo, tvb)
  local found = protocols(OTHER_PROTOCOLS)
  if found.icmp or found.icmpv6 then return end  -- packets quoted in ICMP errors are not traffic
  if found.rtcp then
    read_rtcp(pinfo, found.rtcp)
  elseif found.sip == nil then
    if state.sip_messages == 0 then look_for_sip(pinfo, tvb, found.udp) end
    if found.tls and tls_app_data(found.tls) then
      note_tls(state, pinfo.number, pinfo.src_port, pinfo.dst_port)
    elseif state.sdp_endpoint_count > 0 then
      read_sdp_udp(pinfo, tvb, found.udp)
    end
  end
end

-- Register the listeners; `draw` runs at the end of tshark's pass. Returns them.
-- Three listeners, one of them filtered: each filter is evaluated on every
-- packet, and each Lua call costs about a microsecond.
local function register_taps(draw)
  -- every frame is counted once: RTP frames by the rtp listener, all others here
  -- (the rtp tap fires for version 2 only, and not for RTP quoted in ICMP errors)
  local frame_tap = Listener.new("frame", "!(rtp.version == 2) || icmp || icmpv6")
  local sip_tap = Listener.new("sip")
  local rtp_tap = Listener.new("rtp")

  -- tshark calls the sip listener before this one for the same frame: a frame the sip listener read
  -- holds nothing else read_other looks for (its protocols would be listed again for nothing)
  local function on_frame(pinfo, tvb)
    local packets = state.packets + 1
    state.packets = packets
    if packets >= check_at then pace_collector() end
    local abs = note_time(pinfo)
    local number = pinfo.number
    local ok, err = true, nil
    if number ~= last_sip_frame then ok, err = pcall(read_other, pinfo, tvb) end
    if not ok then note_error(state, number, err) end
    if abs >= sweep_abs then
      ok, err = pcall(sweep, abs)
      if not ok then note_error(state, number, err) end
    end
  end

  local function on_sip(pinfo, tvb)
    if pinfo.number == last_sip_frame then return end
    last_sip_frame = pinfo.number
    note_time(pinfo)
    local ok, err = pcall(read_sip_frame, pinfo, tvb)
    if not ok then note_error(state, pinfo.number, err) end
  end

  local function on_rtp(pinfo, tvb)
    if tvb_raw == nil then tvb_raw = tvb.raw end
    local number = pinfo.number
    if number ~= last_rtp_frame then
      last_rtp_frame = number
      local packets = state.packets + 1
      state.packets = packets
      if packets >= check_at then pace_collector() end
    end
    local ok, err = pcall(read_rtp, pinfo, tvb, number)
    if not ok then note_error(state, number, err) end
  end

  frame_tap.packet = on_frame
  if draw then frame_tap.draw = draw end
  frame_tap.reset = reset_state
  sip_tap.packet = on_sip
  rtp_tap.packet = on_rtp
  return { frame_tap, sip_tap, rtp_tap }
end

---------------------------------------------------------------------------
-- Wireshark's Tools menu
---------------------------------------------------------------------------

-- The GUI functions (retap_packets, TextWindow, new_dialog, set_filter) are
-- looked up when an action runs, never kept in locals: tests/lua/ stands in
-- for them from outside, and the tap carries no test hook.

-- Run the taps over the open capture, then `after` (its errors are shown).
-- The listeners exist only for this retap, so the plugin costs nothing while
-- unused.
local function with_fresh_tap(after)
  reset_state()
  local listeners = register_taps(nil)
  retap_packets()
  for _, listener in ipairs(listeners) do listener:remove() end
  local ok, err = pcall(after)
  if not ok then
    local window = TextWindow.new("SIP Diagnostics: error")
    window:set("sipdiag could not finish: " .. tostring(err) .. "\n")
  end
end

-- The post-processor's checklist for a document, or nil when `sipdiag` is not installed.
local function post_processor_checklist(doc)
  local command = os.getenv("SIPDIAG_BIN") or "sipdiag"
  if command:find(" ", 1, true) then command = '"' .. command .. '"' end
  local probe = io.popen(command .. " --version 2>&1")
  local version = probe and probe:read("*a") or ""
  if probe then probe:close() end
  if not version:find("^sipdiag ") then return nil end
  local path = os.tmpname()
  local ok = write_document(doc, path)
  if not ok then return nil end
  local run = io.popen(command .. ' check --format table --verbose "' .. path .. '" 2>&1')
  local text = run and run:read("*a") or ""
  if run then run:close() end
  os.remove(path)
  -- the report names the temporary file: say what it really is
  return (text:gsub(path:gsub("%p", "%%%0"), "the open capture"))
end

local function show_text(title, shown)
  local window = TextWindow.new("SIP Diagnostics: " .. title)
  window:set(shown)
end

local function call_checklist()
  with_fresh_tap(function()
    local doc, cap, calls = render_document()
    local shown = post_processor_checklist(doc)
    if shown == nil then
      shown = summary(cap, calls) .. "\nThe full checklist (rules, evidence, remedies) needs the sipdiag "
          .. "post-processor: install it from a sipdiag checkout (`pipx install .`, or `make venv`) so that "
          .. "`sipdiag` is on the PATH Wireshark sees, or set SIPDIAG_BIN to its path; then run this again.\n"
    end
    show_text("call checklist", shown)
  end)
end

local function export_pdml()
  new_dialog("SIP Diagnostics: export per-call PDML", function(path)
    if path == nil or trim(path) == "" then return end
    path = trim(path)
    with_fresh_tap(function()
      local ok, err = write_document(render_document(), path)
      if ok then
        show_text("export", "Wrote " .. path .. "\n\nCheck it with: sipdiag check " .. path .. "\n")
      else
        show_text("export", "Could not write " .. path .. ": " .. tostring(err) .. "\n")
      end
    end)
  end, "File to write (for example /tmp/calls.pdml)")
end

local function filter_call()
  new_dialog("SIP Diagnostics: filter a call", function(wanted)
    with_fresh_tap(function()
      local cap, calls = finish(state)
      local call = pick_call(calls, wanted)
      if call then
        set_filter(call_filter(call))
        apply_filter()
        return
      end
      local head = (wanted and trim(wanted) ~= "") and ("No single call matches '" .. wanted .. "'.\n\n") or ""
      show_text("calls", head .. summary(cap, calls)
                .. "\nRun Filter a call... again with a call's number, its Call-ID or its beginning.\n")
    end)
  end, "Call: its number, Call-ID or Call-ID's beginning (empty: list the calls)")
end

if gui_enabled() then
  local group = MENU_TOOLS_UNSORTED
  register_menu("SIP Diagnostics/Call checklist", call_checklist, group)
  register_menu("SIP Diagnostics/Export per-call PDML...", export_pdml, group)
  register_menu("SIP Diagnostics/Filter a call...", filter_call, group)
else
  streaming, sweep_abs = true, -math.huge
  collectgarbage("stop")
  paced, check_at = true, CHECK_EVERY
  register_taps(write_output)
end
