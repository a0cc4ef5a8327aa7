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
    <pdml version="0" creator="sipdiag/0.1.0" sipdiag_schema="1.0" wireshark="4.0.17" lua="Lua 5.2">
    <packet>
      <proto name="sipdiag.capture" showname="sipdiag capture summary">
        <field name="sipdiag.capture.packets" show="3"/>
        <field name="sipdiag.capture.calls" show="1"/>
        ...
      </proto>
    </packet>
    <packet>
      <proto name="sipdiag.call" showname="sipdiag call busy-1@sipdiag.test">
        <field name="sipdiag.call.id" show="busy-1@sipdiag.test"/>
        <field name="sipdiag.msg" show="SIP/2.0 486 Busy Here">
          <field name="sipdiag.msg.frame" show="2"/>
          <field name="sipdiag.msg.time" show="0.000140"/>
          <field name="sipdiag.msg.status" show="486"/>
          ...
        </field>
      </proto>
    </packet>
    </pdml>

The first part of this file holds pure helpers (SIP text parsing, XML escaping,
PDML rendering) that use no Wireshark API: plain `lua` loads this file as a
module and gets them back (see tests/lua/). The tap itself follows.
]]

local TAP_VERSION = "0.1.0"
local SCHEMA_VERSION = "1.4"

-- Bounds that keep hostile captures from exhausting memory; each overflow is
-- counted and reported, never silently dropped.
local MAX_VALUE_BYTES = 1024     -- one header value or URI
local MAX_XHEADERS = 64          -- X- headers kept per message
local MAX_LIST_HEADERS = 16      -- Reason/Warning headers kept per message
local MAX_MSGS_PER_CALL = 2000   -- SIP messages kept per Call-ID
local MAX_TAP_ERRORS_KEPT = 10   -- error samples written to the capture record
local MAX_TLS_PORTS = 32         -- distinct TLS server ports tracked
local MAX_OTHER_METHODS = 64     -- distinct non-call method names counted by name
local MAX_STREAMS = 20000        -- RTP streams tracked (a hostile capture can vary SSRCs per packet)
local MAX_SDP_ENDPOINTS = 20000  -- SDP media address:ports remembered for RTP tshark did not decode

local M = {}

---------------------------------------------------------------------------
-- Pure helpers: text
---------------------------------------------------------------------------

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end
M.trim = trim

-- Cut s to MAX_VALUE_BYTES, saying how much was cut.
local function bounded(s)
  if s == nil or #s <= MAX_VALUE_BYTES then return s end
  return s:sub(1, MAX_VALUE_BYTES) .. string.format("...[+%d bytes]", #s - MAX_VALUE_BYTES)
end
M.bounded = bounded

-- Replace every byte that is not part of a valid UTF-8 encoding of a
-- character allowed in XML 1.0 by U+FFFD. ASCII control characters are left
-- to xml_attr.
local REPLACEMENT = "\239\191\189"
function M.utf8_sanitize(s)
  if not s:find("[\128-\255]") then return s end
  local out, n, i, len = {}, 0, 1, #s
  local byte = string.byte
  while i <= len do
    local c = byte(s, i)
    local need, cp
    if c < 0x80 then need, cp = 0, c
    elseif c >= 0xC2 and c <= 0xDF then need, cp = 1, c - 0xC0
    elseif c >= 0xE0 and c <= 0xEF then need, cp = 2, c - 0xE0
    elseif c >= 0xF0 and c <= 0xF4 then need, cp = 3, c - 0xF0
    else need = -1 end
    local ok = need >= 0 and i + need <= len
    if ok then
      for k = 1, need do
        local cc = byte(s, i + k)
        if cc < 0x80 or cc > 0xBF then ok = false; break end
        cp = cp * 64 + (cc - 0x80)
      end
    end
    if ok then
      if (need == 2 and cp < 0x800) or (need == 3 and (cp < 0x10000 or cp > 0x10FFFF))
         or (cp >= 0xD800 and cp <= 0xDFFF) or cp == 0xFFFE or cp == 0xFFFF then
        ok = false
      end
    end
    n = n + 1
    if ok then
      out[n] = s:sub(i, i + need)
      i = i + need + 1
    else
      out[n] = REPLACEMENT
      i = i + 1
    end
  end
  return table.concat(out)
end

local XML_ESCAPES = {
  ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&apos;",
  ["\t"] = "&#9;", ["\n"] = "&#10;", ["\r"] = "&#13;",
}
-- Text made safe for an XML attribute value: valid UTF-8, metacharacters
-- escaped, control characters other than TAB/LF/CR replaced by U+FFFD.
function M.xml_attr(s)
  s = tostring(s)
  if not s:find("[%c&<>\"'\128-\255]") then return s end
  s = M.utf8_sanitize(s)
  return (s:gsub("[%c&<>\"']", function(c) return XML_ESCAPES[c] or REPLACEMENT end))
end

function M.fmt_time(t)
  return string.format("%.6f", t)
end

function M.fmt_int(n)
  return string.format("%d", math.floor(n))
end

---------------------------------------------------------------------------
-- Pure helpers: SIP message text
---------------------------------------------------------------------------

-- map from compact header form (RFC 3261 7.3.3 and extensions) to full name
local COMPACT = {
  i = "call-id", f = "from", t = "to", v = "via", m = "contact",
  l = "content-length", c = "content-type", e = "content-encoding",
  k = "supported", s = "subject", r = "refer-to", o = "event",
  b = "referred-by", u = "allow-events", x = "session-expires",
}

-- map from lower-case header name to the message field it fills (first value wins)
local SINGLE_HEADERS = {
  ["call-id"] = "call_id", ["from"] = "from", ["to"] = "to", ["cseq"] = "cseq_raw",
  ["user-agent"] = "user_agent", ["server"] = "server", ["contact"] = "contact",
  ["content-type"] = "content_type", ["refer-to"] = "refer_to", ["event"] = "event",
  ["subscription-state"] = "subscription_state", ["retry-after"] = "retry_after",
}
-- map from lower-case header name to true for digest authentication headers
local AUTH_HEADERS = {
  ["www-authenticate"] = true, ["proxy-authenticate"] = true,
  ["authorization"] = true, ["proxy-authorization"] = true,
}

-- The value of a digest parameter (quoted or token), e.g. realm or username.
function M.auth_param(value, name)
  local pattern = name:gsub("%a", function(c) return "[" .. c:upper() .. c:lower() .. "]" end)
  return value:match("[%s,]" .. pattern .. '%s*=%s*"([^"]*)"')
      or value:match("[%s,]" .. pattern .. "%s*=%s*([^,%s]+)")
end

-- map from lower-case header name to the list field it appends to
local LIST_HEADERS = { ["reason"] = "reasons", ["warning"] = "warnings" }

-- Split "Display" <uri>;params (or uri;params) into display, uri, tag.
function M.parse_name_addr(v)
  if v == nil then return nil end
  local display, uri, params
  local lt = v:find("<", 1, true)
  if lt then
    local gt = v:find(">", lt + 1, true)
    display = trim(v:sub(1, lt - 1)):gsub('^"(.*)"$', "%1")
    uri = v:sub(lt + 1, (gt or (#v + 1)) - 1)
    params = gt and v:sub(gt + 1) or ""
  else
    local semi = v:find(";", 1, true)
    display = ""
    uri = trim(semi and v:sub(1, semi - 1) or v)
    params = semi and v:sub(semi) or ""
  end
  local tag = params:match(";%s*[Tt][Aa][Gg]%s*=%s*([^;,%s]+)")
  return { display = display ~= "" and display or nil, uri = trim(uri), tag = tag }
end

-- The branch parameter of the first Via element.
function M.via_branch(via)
  if via == nil then return nil end
  local first = via:match("^([^,]*)") or via
  return first:match(";%s*[Bb][Rr][Aa][Nn][Cc][Hh]%s*=%s*([^;,%s]+)")
end

-- The SDP session in a body: the body itself, or the application/sdp part of
-- a multipart body; nil when there is none.
local function sdp_text(content_type, body)
  if body == nil or body:find("^%s*$") then return nil end
  local ct = (content_type or ""):lower()
  if ct:find("application/sdp", 1, true) then return body end
  if ct:find("^%s*multipart/") then
    local lower = body:lower()
    local at = lower:find("content%-type:%s*application/sdp")
    if not at then return nil end
    local _, head_end = body:find("\r?\n\r?\n", at)
    if not head_end then return nil end
    local start = head_end + 1
    local stop = body:find("\r?\n%-%-", start)
    return body:sub(start, (stop or (#body + 1)) - 1)
  end
  if ct == "" and body:find("^v=0") then return body end
  return nil
end

-- Parse the raw text of one SIP message (start line, headers, body) into a
-- table. Never errors on malformed text: what cannot be read stays nil.
function M.parse_sip(raw)
  local msg = { reasons = {}, warnings = {}, xheaders = {}, xheaders_dropped = 0 }
  local head, body
  local a, b = raw:find("\r\n\r\n", 1, true)
  if not a then a, b = raw:find("\n\n", 1, true) end
  if a then head, body = raw:sub(1, a - 1), raw:sub(b + 1) else head, body = raw, "" end

  local lines = {}
  for line in (head .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    if line:find("^[ \t]") and #lines > 1 then
      lines[#lines] = lines[#lines] .. " " .. trim(line)  -- obsolete line folding
    else
      lines[#lines + 1] = line
    end
  end

  local start = lines[1] or ""
  msg.start_line = bounded(trim(start))
  local code, phrase = start:match("^[Ss][Ii][Pp]/2%.0%s+(%d%d%d)%s*(.-)%s*$")
  if code then
    msg.kind = "response"
    msg.status = tonumber(code)
    msg.reason = bounded(phrase)
  else
    local method, ruri = start:match("^(%S+)%s+(%S+)%s+[Ss][Ii][Pp]/2%.0%s*$")
    if method then
      msg.kind = "request"
      msg.method = bounded(method)
      msg.request_uri = bounded(ruri)
    else
      msg.kind = "unknown"
    end
  end

  local via
  for i = 2, #lines do
    local name, value = lines[i]:match("^([^:]+):(.*)$")
    if name then
      name, value = trim(name), trim(value)
      local lname = name:lower()
      if #lname == 1 then lname = COMPACT[lname] or lname end
      local field = SINGLE_HEADERS[lname]
      if field then
        if msg[field] == nil then msg[field] = bounded(value) end
      elseif LIST_HEADERS[lname] then
        local list = msg[LIST_HEADERS[lname]]
        if #list < MAX_LIST_HEADERS then list[#list + 1] = bounded(value) end
      elseif lname == "via" then
        via = via or value
      elseif AUTH_HEADERS[lname] then
        -- only who and where: nonces and responses stay out of the summary
        msg.auth_realm = msg.auth_realm or bounded(M.auth_param(value, "realm"))
        if lname:find("authorization", 1, true) then
          msg.auth_username = msg.auth_username or bounded(M.auth_param(value, "username"))
        end
      elseif lname:sub(1, 2) == "x-" then
        if #msg.xheaders < MAX_XHEADERS then
          msg.xheaders[#msg.xheaders + 1] = { name = bounded(name), value = bounded(value) }
        else
          msg.xheaders_dropped = msg.xheaders_dropped + 1
        end
      end
    end
  end

  msg.branch = bounded(M.via_branch(via))
  if msg.cseq_raw then
    local num, method = msg.cseq_raw:match("^(%d+)%s+(%S+)")
    if num and #num <= 10 then msg.cseq = tonumber(num) end  -- RFC 3261: < 2^31
    msg.cseq_method = method
  end
  msg.from_addr = M.parse_name_addr(msg.from)
  msg.to_addr = M.parse_name_addr(msg.to)
  local sdp = sdp_text(msg.content_type, body)
  msg.has_sdp = sdp ~= nil
  if sdp then msg.sdp = M.parse_sdp(sdp) end
  msg.body_len = #body
  if (msg.content_type or ""):lower():find("^%s*message/sipfrag") then
    msg.sipfrag = bounded(trim(body:match("^[^\r\n]*") or ""))
  end
  return msg
end

---------------------------------------------------------------------------
-- Pure helpers: SDP
---------------------------------------------------------------------------

local MAX_SDP_MEDIA = 16         -- m= lines kept per SDP
local MAX_SDP_ATTRS = 32         -- rtpmap / fmtp lines kept per m= line

-- map from direction attribute to true
local DIRECTIONS = { sendrecv = true, sendonly = true, recvonly = true, inactive = true }

-- Parse an SDP session description: session-level c=, o= and direction, and
-- per m= line its type, port, protocol, formats, c=, direction, rtpmap, fmtp,
-- ptime, and whether SRTP keying (a=crypto, a=fingerprint) is present.
function M.parse_sdp(text)
  local sdp = { media = {}, media_dropped = 0 }
  local cur = nil
  for line in text:gmatch("[^\r\n]+") do
    local k, v = line:match("^(%a)%s*=%s*(.*)$")
    if k == "o" then
      sdp.origin = bounded(v)
    elseif k == "c" then
      local addr = v:match("^IN%s+IP[46]%s+([^%s/]+)")
      if cur then cur.connection = bounded(addr) elseif sdp.connection == nil then sdp.connection = bounded(addr) end
    elseif k == "m" then
      if #sdp.media < MAX_SDP_MEDIA then
        local mtype, port, proto, formats = v:match("^(%S+)%s+(%d+)%S*%s+(%S+)%s*(.-)%s*$")
        cur = { line = bounded(v), type = bounded(mtype), port = port and #port <= 5 and tonumber(port) or nil,
                proto = bounded(proto), formats = bounded(formats), rtpmap = {}, fmtp = {} }
        sdp.media[#sdp.media + 1] = cur
      else
        sdp.media_dropped = sdp.media_dropped + 1
        cur = { rtpmap = {}, fmtp = {} }  -- read and forgotten
      end
    elseif k == "a" then
      local name, value = v:match("^([%w%-]+):?(.*)$")
      name = name and name:lower()
      local target = cur or sdp
      if name and DIRECTIONS[name] then
        target.direction = name
      elseif name == "fingerprint" then
        target.fingerprint = true
      elseif cur then
        if name == "rtpmap" and #cur.rtpmap < MAX_SDP_ATTRS then
          cur.rtpmap[#cur.rtpmap + 1] = bounded(trim(value))
        elseif name == "fmtp" and #cur.fmtp < MAX_SDP_ATTRS then
          cur.fmtp[#cur.fmtp + 1] = bounded(trim(value))
        elseif name == "ptime" then
          cur.ptime = bounded(trim(value))
        elseif name == "crypto" then
          cur.crypto = true
        elseif name == "rtcp-mux" then
          cur.rtcp_mux = true
        end
      end
    end
  end
  return sdp
end

-- Encoding name and clock rate of a payload type in an m= line's rtpmaps.
function M.rtpmap_of(media, pt)
  local prefix = tostring(pt) .. " "
  for _, map in ipairs(media.rtpmap) do
    if map:sub(1, #prefix) == prefix then
      local name, rate = map:match("^%d+%s+([^/%s]+)/?(%d*)")
      return name, tonumber(rate)
    end
  end
  return nil
end

---------------------------------------------------------------------------
-- Pure helpers: RTP stream analysis
---------------------------------------------------------------------------

-- Clock rates of the static payload types (RFC 3551), as tshark uses them.
M.STATIC_CLOCK = {
  [0] = 8000, [1] = 8000, [2] = 8000, [3] = 8000, [4] = 8000, [5] = 8000, [6] = 16000, [7] = 8000,
  [8] = 8000, [9] = 8000, [10] = 44100, [11] = 44100, [12] = 8000, [13] = 8000, [14] = 90000,
  [15] = 8000, [16] = 11025, [17] = 22050, [18] = 8000, [19] = 8000, [25] = 90000, [26] = 90000,
  [28] = 90000, [31] = 90000, [32] = 90000, [33] = 90000, [34] = 90000,
}
-- Clock rates of dynamic encodings by name, when the rtpmap gives none.
local DYNAMIC_CLOCK = {
  ["amr"] = 8000, ["amr-wb"] = 16000, ["evs"] = 16000, ["g7221"] = 16000, ["opus"] = 48000,
  ["g726-16"] = 8000, ["g726-24"] = 8000, ["g726-32"] = 8000, ["g726-40"] = 8000, ["ilbc"] = 8000,
  ["speex"] = 8000, ["h264"] = 90000, ["vp8"] = 90000,
}

-- The clock rate jitter is measured with for a payload type: static types by
-- RFC 3551, dynamic ones by the call's rtpmap; 0 (no jitter) for
-- telephone-event and for unknown types, as tshark does.
function M.clock_rate(pt, name, rate)
  if pt < 96 then return M.STATIC_CLOCK[pt] or 0 end
  if name == nil then return 0 end
  name = name:lower()
  if name == "telephone-event" then return 0 end
  return rate or DYNAMIC_CLOCK[name] or 0
end

local DUP_WINDOW = 1024  -- how far back (in sequence numbers) a duplicate is recognised
local MAX_PPS_SECONDS = 14400  -- per-second packet counts kept per stream (4 hours)
local floor = math.floor

-- The per-second counts as "50,50,0,12": every second from pps_start to the
-- last one with a packet, zeros included.
function M.pps_text(st)
  local pps, out = st.pps, {}
  for i = 1, st.pps_n do out[i] = string.format("%d", pps[i] or 0) end
  return table.concat(out, ",")
end

-- A fresh stream record.
function M.new_stream(ssrc)
  return {
    ssrc = ssrc, packets = 0, pts = {}, pt_order = {}, markers = 0,
    -- tshark's rtp analysis (ui/tap-rtp-analysis.c): the state its -z rtp,streams reports from
    start_seq = 0, stop_seq = 0, seq_num = 0, cycles = 0, under = false, seq_errors = 0,
    seq_ts = 0, time = 0, jitter = 0, max_jitter = 0, mean_jitter = 0, max_delta = 0, last_pt = -1,
    -- our own: RFC 3550 A.1 extended sequence numbers, duplicates, reordering, gaps
    ext_max = 0, first_ext = 0, missing = nil, duplicates = 0, out_of_order = 0,
    ts_ext = 0, gap_max = 0, gap_start = 0, gap_frame = 0, last_time = 0,
    -- packets per second: pps[i] counts second pps_start + i - 1 of the capture
    pps = {}, pps_start = 0, pps_n = 0, pps_over = 0,
  }
end

-- Account one RTP packet: t_ms since the capture's first packet, header
-- fields, the clock rate of its payload type, its frame number.
--
-- Hot: about forty table reads and writes per packet, no allocation in the
-- common case (in order, no loss). Duplicates are told from late packets by
-- remembering the holes a jump forward leaves (the last DUP_WINDOW of them),
-- not every sequence number received.
function M.rtp_packet(st, t_ms, seq, ts, pt, marker, clock, frame)
  local packets = st.packets
  st.packets = packets + 1
  local count = st.pts[pt]
  if count == nil then
    st.pt_order[#st.pt_order + 1] = pt
    st.pts[pt] = 1
  else
    st.pts[pt] = count + 1
  end
  if marker then st.markers = st.markers + 1 end

  -- packets per second, for the RTP graph: bounded by MAX_PPS_SECONDS
  local pps = st.pps
  if packets == 0 then st.pps_start = floor(t_ms / 1000) end
  local second = floor(t_ms / 1000) - st.pps_start + 1
  local in_second = pps[second]
  if in_second then
    pps[second] = in_second + 1
  elseif second >= 1 and second <= MAX_PPS_SECONDS then
    pps[second] = 1
    if second > st.pps_n then st.pps_n = second end
  else
    st.pps_over = st.pps_over + 1
  end

  if packets == 0 then
    st.ts_ext, st.ext_max, st.first_ext = ts, seq, seq
    st.first_time, st.first_frame, st.last_time, st.last_frame = t_ms, frame, t_ms, frame
    -- tshark's analysis starts here
    st.start_seq, st.stop_seq, st.seq_num = seq, seq, seq
    st.time, st.seq_ts, st.last_pt = t_ms, ts, pt
    return
  end

  -- the timestamp extended to the value nearest the previous one
  local ts_ext = st.ts_ext
  local diff = ts - ts_ext % 4294967296
  if diff > 2147483648 then diff = diff - 4294967296 elseif diff < -2147483648 then diff = diff + 4294967296 end
  local ext_ts = ts_ext + diff
  st.ts_ext = ext_ts

  -- own accounting: RFC 3550 A.1 extended sequence numbers, duplicates, reordering, gaps
  local ext_max = st.ext_max
  local ext = ext_max - ext_max % 65536 + seq
  if ext - ext_max > 32768 then ext = ext - 65536 elseif ext_max - ext > 32768 then ext = ext + 65536 end
  if ext > ext_max then
    if ext > ext_max + 1 then  -- a jump: remember the holes, to tell late packets from duplicates
      local missing = st.missing
      if missing == nil then
        missing = {}
        st.missing = missing
      end
      local from = ext - DUP_WINDOW + 1
      if from <= ext_max then from = ext_max + 1 end
      for hole = from, ext - 1 do missing[hole % DUP_WINDOW] = hole end
    end
    st.ext_max = ext
  else
    local missing = st.missing
    local slot = ext % DUP_WINDOW
    if missing and missing[slot] == ext then
      missing[slot] = nil  -- a late packet filling its hole
      st.out_of_order = st.out_of_order + 1
    elseif ext > ext_max - DUP_WINDOW and ext >= st.first_ext then
      st.duplicates = st.duplicates + 1
    else
      st.out_of_order = st.out_of_order + 1
      if ext < st.first_ext then st.first_ext = ext end
    end
  end
  local last_time = st.last_time
  local gap = t_ms - last_time
  if gap > st.gap_max then st.gap_max, st.gap_start, st.gap_frame = gap, last_time, frame end
  st.last_time, st.last_frame = t_ms, frame

  -- tshark's analysis (ui/tap-rtp-analysis.c of 4.0)
  local seq_ts, time, seq_num = st.seq_ts, st.time, st.seq_num
  local in_time = seq_ts <= ext_ts
  if in_time then
    if seq < st.start_seq and not st.under then
      st.cycles, st.under = st.cycles + 1, true
    elseif seq == 0 and st.stop_seq == 65535 and not st.under then
      st.cycles, st.under = st.cycles + 1, true
    elseif st.under and seq > st.start_seq then
      st.under = false
    end
  end
  if in_time and seq_num + 1 == seq then
    st.seq_num = seq
  elseif in_time and seq_num == 65535 and seq == 0 then
    st.seq_num = seq
  elseif in_time and (seq_num + 1 < seq or seq_num - seq > 0xFF00) then
    st.seq_num = seq
    st.seq_errors = st.seq_errors + 1
  elseif seq_num + 1 > seq then
    st.seq_errors = st.seq_errors + 1
  end
  local last_pt = st.last_pt
  if pt ~= last_pt then st.last_pt = pt end
  local jitter = st.jitter
  if clock ~= 0 then
    local skew = t_ms - (time + (ext_ts - seq_ts) / math.floor(clock / 1000))
    if skew < 0 then skew = -skew end
    jitter = (15 * jitter + skew) / 16
    st.jitter = jitter
  end
  -- "regular" packets: no marker, no comfort noise (or right after it), in timestamp order
  if not marker and in_time and pt ~= 13 and pt ~= 19 and last_pt ~= 13 and last_pt ~= 19 then
    local delta = t_ms - time
    if delta > st.max_delta then st.max_delta = delta end
    if clock ~= 0 then
      if jitter > st.max_jitter then st.max_jitter = jitter end
      -- tshark divides by every packet before this one, regular or not
      st.mean_jitter = (st.mean_jitter * (packets - 1) + jitter) / packets
    end
  end
  -- tshark 4.0 moves its reference arrival time on every in-order packet but
  -- keeps the last timestamp of a packet it could measure (not of a
  -- telephone-event); 4.2+ moves both (see docs/pdml-schema.md)
  if in_time then
    st.time = t_ms
    if clock ~= 0 then st.seq_ts = ext_ts end
  end
  st.stop_seq = seq
end

-- Packets expected and lost, as tshark's -z rtp,streams counts them.
function M.expected(st)
  return st.stop_seq + st.cycles * 65536 - st.start_seq + 1
end

---------------------------------------------------------------------------
-- Pure helpers: RTCP
---------------------------------------------------------------------------

local function u32(s, i)
  local a, b, c, d = s:byte(i, i + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

local function u16(s, i)
  local a, b = s:byte(i, i + 1)
  return a * 256 + b
end

-- Parse one RTCP packet (SR 200, RR 201, XR 207; others give their type
-- only). Report blocks: source SSRC, fraction lost (/256), cumulative lost
-- (signed 24 bits), interarrival jitter (timestamp units), LSR, DLSR (1/65536 s).
function M.parse_rtcp(raw)
  if #raw < 8 then return nil end
  local b1, pt = raw:byte(1, 2)
  if b1 < 128 or b1 >= 192 then return nil end  -- version 2 only
  local count = b1 % 32
  local length = math.min(#raw, (u16(raw, 3) + 1) * 4)
  local packet = { pt = pt, ssrc = u32(raw, 5), blocks = {} }
  local at
  if pt == 200 then
    if length < 28 then return packet end
    local sec, frac = u32(raw, 9), u32(raw, 13)
    packet.ntp_mid = (sec % 65536) * 65536 + math.floor(frac / 65536)
    at = 29
  elseif pt == 201 then
    at = 9
  elseif pt == 207 then
    at = 9
    while at + 3 <= length do
      local bt, block_len = raw:byte(at), u16(raw, at + 2)
      local stop = at + 4 + block_len * 4
      if bt == 7 and at + 35 <= length then  -- VoIP metrics, RFC 3611 4.7
        packet.xr = {
          ssrc = u32(raw, at + 4), loss_rate = raw:byte(at + 8), rtt_ms = u16(raw, at + 16),
          end_delay_ms = u16(raw, at + 18), r_factor = raw:byte(at + 24), mos_lq = raw:byte(at + 26),
          mos_cq = raw:byte(at + 27),
        }
      end
      if stop <= at then break end
      at = stop
    end
    return packet
  else
    return packet
  end
  for _ = 1, count do
    if at + 23 > length then break end
    local cum = u32(raw, at + 4) % 16777216
    if cum >= 8388608 then cum = cum - 16777216 end
    packet.blocks[#packet.blocks + 1] = {
      ssrc = u32(raw, at), fraction = raw:byte(at + 4), cum_lost = cum,
      ext_seq = u32(raw, at + 8), jitter = u32(raw, at + 12), lsr = u32(raw, at + 16), dlsr = u32(raw, at + 20),
    }
    at = at + 24
  end
  return packet
end

local MAX_SR_REMEMBERED = 64

-- Account one parsed RTCP packet seen at t (s): sender reports are
-- remembered so a later report block's LSR/DLSR gives the round trip, as
-- tshark's rtcp.roundtrip-delay does (capture times only, no clock sync).
function M.add_rtcp(state, packet, t, frame)
  local sender = state.rtcp_sender[packet.ssrc]
  if sender == nil then
    sender = { sr = 0, rr = 0, srs = {}, sr_order = {} }
    state.rtcp_sender[packet.ssrc] = sender
  end
  if packet.pt == 200 then
    sender.sr = sender.sr + 1
    if packet.ntp_mid then
      sender.srs[packet.ntp_mid] = t
      sender.sr_order[#sender.sr_order + 1] = packet.ntp_mid
      if #sender.sr_order > MAX_SR_REMEMBERED then sender.srs[table.remove(sender.sr_order, 1)] = nil end
    end
  elseif packet.pt == 201 then
    sender.rr = sender.rr + 1
  end
  for _, block in ipairs(packet.blocks) do
    local about = state.rtcp_about[block.ssrc]
    if about == nil then
      about = { reports = 0, fraction_max = 0, cum_lost = 0, jitter_max = 0, rtt_n = 0, rtt_sum = 0,
                rtt_max = 0, rtt_min = -1 }
      state.rtcp_about[block.ssrc] = about
    end
    about.reports = about.reports + 1
    if block.fraction > about.fraction_max then about.fraction_max = block.fraction end
    about.cum_lost = block.cum_lost
    if block.jitter > about.jitter_max then about.jitter_max = block.jitter end
    local source = state.rtcp_sender[block.ssrc]
    local sr_time = block.lsr ~= 0 and source and source.srs[block.lsr]
    if sr_time then
      local rtt = t - sr_time - block.dlsr / 65536
      if rtt >= 0 then
        about.rtt_n, about.rtt_sum = about.rtt_n + 1, about.rtt_sum + rtt
        if rtt > about.rtt_max then about.rtt_max, about.rtt_max_frame = rtt, frame end
        if about.rtt_min < 0 or rtt < about.rtt_min then about.rtt_min = rtt end
      end
    end
  end
  if packet.xr then
    state.rtcp_xr[packet.xr.ssrc] = packet.xr
  end
end

-- Methods that never belong to an INVITE dialog: counted, not kept per call.
M.NON_CALL_METHODS = {
  REGISTER = true, OPTIONS = true, SUBSCRIBE = true, PUBLISH = true, MESSAGE = true,
}
-- Methods whose presence makes a Call-ID a call.
M.CALL_METHODS = {
  INVITE = true, ACK = true, BYE = true, CANCEL = true, PRACK = true, UPDATE = true, REFER = true,
}

-- The method a message belongs to: the request method, or the CSeq method
-- of a response.
function M.dialog_method(msg)
  return msg.method or msg.cseq_method
end

-- A key that is equal for a message and its retransmissions.
function M.retransmission_key(msg, src, dst)
  if msg.kind == "request" then
    return table.concat({ "q", msg.method or "", msg.cseq_raw or "", msg.branch or "", src, dst }, "\0")
  end
  return table.concat({ "s", msg.status or "", msg.cseq_raw or "", msg.branch or "",
                        msg.to_addr and msg.to_addr.tag or "", src, dst }, "\0")
end

---------------------------------------------------------------------------
-- Pure helpers: PDML rendering
---------------------------------------------------------------------------

-- A writer that appends PDML lines to a table.
-- map from depth to its indentation
local INDENT = setmetatable({}, { __index = function(t, depth)
  local s = string.rep("  ", depth)
  rawset(t, depth, s)
  return s
end })

-- A writer that appends PDML lines to a table (w.out); depth is the indentation.
local function new_writer()
  local out, n = {}, 0
  local w = { out = out, depth = 0 }
  local xml_attr = M.xml_attr
  function w.line(s)
    n = n + 1
    out[n] = INDENT[w.depth] .. s
  end
  function w.field(name, value)  -- value from the capture: escaped
    if value == nil then return end
    n = n + 1
    out[n] = INDENT[w.depth] .. '<field name="' .. name .. '" show="' .. xml_attr(value) .. '"/>'
  end
  function w.value(name, value)  -- value the tap made itself (a number, a token): no escaping needed
    n = n + 1
    out[n] = INDENT[w.depth] .. '<field name="' .. name .. '" show="' .. value .. '"/>'
  end
  function w.append(text)  -- an already rendered block
    n = n + 1
    out[n] = text
  end
  function w.open(name, show)
    w.line('<field name="' .. name .. '" show="' .. xml_attr(show) .. '">')
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
  w.value("sipdiag.capture.packets", M.fmt_int(cap.packets))
  if cap.start_epoch then w.value("sipdiag.capture.start_epoch", M.fmt_time(cap.start_epoch)) end
  w.value("sipdiag.capture.duration", M.fmt_time(cap.duration or 0))
  w.value("sipdiag.capture.sip_messages", M.fmt_int(cap.sip_messages))
  w.value("sipdiag.capture.calls", M.fmt_int(cap.calls))
  for _, method in ipairs(cap.other_methods) do
    w.open("sipdiag.capture.other_sip", method)
    w.field("sipdiag.capture.other_sip.method", method)
    w.value("sipdiag.capture.other_sip.count", M.fmt_int(cap.other_sip[method]))
    w.value("sipdiag.capture.other_sip.first_frame", M.fmt_int(cap.other_first[method]))
    w.close()
  end
  for _, t in ipairs(cap.tls) do
    w.open("sipdiag.capture.tls_undecoded", M.fmt_int(t.port))
    w.value("sipdiag.capture.tls_undecoded.port", M.fmt_int(t.port))
    w.value("sipdiag.capture.tls_undecoded.frames", M.fmt_int(t.frames))
    w.value("sipdiag.capture.tls_undecoded.first_frame", M.fmt_int(t.first_frame))
    w.close()
  end
  if cap.tls_ports_dropped > 0 then
    w.value("sipdiag.capture.tls_ports_dropped", M.fmt_int(cap.tls_ports_dropped))
  end
  w.value("sipdiag.capture.rtp_streams", M.fmt_int(cap.rtp_streams or 0))
  w.value("sipdiag.capture.rtp_streams_unlinked", M.fmt_int(cap.unlinked and #cap.unlinked or 0))
  if (cap.streams_dropped or 0) > 0 then
    w.value("sipdiag.capture.rtp_streams_dropped", M.fmt_int(cap.streams_dropped))
    w.value("sipdiag.capture.rtp_packets_dropped", M.fmt_int(cap.rtp_dropped))
  end
  w.value("sipdiag.capture.rtcp_packets", M.fmt_int(cap.rtcp_packets or 0))
  w.value("sipdiag.capture.snapped_sip_frames", M.fmt_int(cap.snapped_sip_frames))
  w.value("sipdiag.capture.tap_errors", M.fmt_int(cap.tap_errors))
  for _, e in ipairs(cap.tap_error_samples) do
    w.open("sipdiag.capture.tap_error", e.message)
    w.value("sipdiag.capture.tap_error.frame", M.fmt_int(e.frame))
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
  w.field("sipdiag.sdp.connection", sdp.connection)
  w.field("sipdiag.sdp.direction", sdp.direction)
  if sdp.fingerprint then w.value("sipdiag.sdp.fingerprint", "1") end
  for _, media in ipairs(sdp.media) do
    w.open("sipdiag.sdp.media", media.line)
    w.field("sipdiag.sdp.media.type", media.type)
    if media.port then w.value("sipdiag.sdp.media.port", M.fmt_int(media.port)) end
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
  if sdp.media_dropped > 0 then w.value("sipdiag.sdp.media_dropped", M.fmt_int(sdp.media_dropped)) end
  w.close()
end

local function ms(seconds_or_ms) return string.format("%.3f", seconds_or_ms) end

local function render_stream(w, st, cap)
  w.open("sipdiag.stream", string.format("%s:%d -> %s:%d SSRC 0x%08X", st.src, st.src_port, st.dst,
                                         st.dst_port, st.ssrc))
  w.field("sipdiag.stream.src", st.src)
  w.value("sipdiag.stream.src_port", M.fmt_int(st.src_port))
  w.field("sipdiag.stream.dst", st.dst)
  w.value("sipdiag.stream.dst_port", M.fmt_int(st.dst_port))
  w.value("sipdiag.stream.ssrc", string.format("0x%08X", st.ssrc))
  w.field("sipdiag.stream.link", st.link)
  if st.setup_frame then w.value("sipdiag.stream.setup_frame", M.fmt_int(st.setup_frame)) end
  if st.decoded_by then w.value("sipdiag.stream.decoded_by", st.decoded_by) end
  if st.call then w.value("sipdiag.stream.src_in_sdp", bool01(st.src_in_sdp)) end
  w.value("sipdiag.stream.first_frame", M.fmt_int(st.first_frame))
  w.value("sipdiag.stream.last_frame", M.fmt_int(st.last_frame))
  w.value("sipdiag.stream.first_time", M.fmt_time(st.first_time / 1000))
  w.value("sipdiag.stream.last_time", M.fmt_time(st.last_time / 1000))
  w.value("sipdiag.stream.packets", M.fmt_int(st.packets))
  w.value("sipdiag.stream.expected", M.fmt_int(M.expected(st)))
  w.value("sipdiag.stream.lost", M.fmt_int(M.expected(st) - st.packets))
  w.value("sipdiag.stream.duplicates", M.fmt_int(st.duplicates))
  w.value("sipdiag.stream.out_of_order", M.fmt_int(st.out_of_order))
  w.value("sipdiag.stream.seq_errors", M.fmt_int(st.seq_errors))
  w.value("sipdiag.stream.markers", M.fmt_int(st.markers))
  w.value("sipdiag.stream.jitter_mean_ms", ms(st.mean_jitter))
  w.value("sipdiag.stream.jitter_max_ms", ms(st.max_jitter))
  w.value("sipdiag.stream.delta_max_ms", ms(st.max_delta))
  w.value("sipdiag.stream.gap_max_s", M.fmt_time(st.gap_max / 1000))
  w.value("sipdiag.stream.gap_start_time", M.fmt_time(st.gap_start / 1000))
  w.value("sipdiag.stream.gap_end_frame", M.fmt_int(st.gap_frame))
  w.value("sipdiag.stream.pps_start", M.fmt_int(st.pps_start))
  w.value("sipdiag.stream.pps", M.pps_text(st))
  if st.pps_over > 0 then w.value("sipdiag.stream.pps_uncounted", M.fmt_int(st.pps_over)) end
  for _, pt in ipairs(st.pt_order) do
    w.open("sipdiag.stream.payload", M.fmt_int(pt))
    w.value("sipdiag.stream.payload.pt", M.fmt_int(pt))
    w.value("sipdiag.stream.payload.packets", M.fmt_int(st.pts[pt]))
    w.value("sipdiag.stream.payload.clock_rate", M.fmt_int(st.clocks[pt] or 0))
    w.close()
  end
  local sender = cap.rtcp_sender and cap.rtcp_sender[st.ssrc]
  local about = cap.rtcp_about and cap.rtcp_about[st.ssrc]
  local xr = cap.rtcp_xr and cap.rtcp_xr[st.ssrc]
  if sender or about or xr then
    w.open("sipdiag.stream.rtcp", "RTCP")
    if sender then
      w.value("sipdiag.stream.rtcp.sender_reports", M.fmt_int(sender.sr))
      w.value("sipdiag.stream.rtcp.receiver_reports_sent", M.fmt_int(sender.rr))
    end
    if about then
      w.value("sipdiag.stream.rtcp.reports", M.fmt_int(about.reports))
      w.value("sipdiag.stream.rtcp.fraction_lost_max", M.fmt_int(about.fraction_max))
      w.value("sipdiag.stream.rtcp.cumulative_lost", M.fmt_int(about.cum_lost))
      w.value("sipdiag.stream.rtcp.jitter_max", M.fmt_int(about.jitter_max))
      if about.rtt_n > 0 then
        w.value("sipdiag.stream.rtcp.rtt_count", M.fmt_int(about.rtt_n))
        w.value("sipdiag.stream.rtcp.rtt_mean_ms", ms(about.rtt_sum / about.rtt_n * 1000))
        w.value("sipdiag.stream.rtcp.rtt_min_ms", ms(about.rtt_min * 1000))
        w.value("sipdiag.stream.rtcp.rtt_max_ms", ms(about.rtt_max * 1000))
        w.value("sipdiag.stream.rtcp.rtt_max_frame", M.fmt_int(about.rtt_max_frame))
      end
    end
    if xr then
      w.value("sipdiag.stream.rtcp.xr_rtt_ms", M.fmt_int(xr.rtt_ms))
      w.value("sipdiag.stream.rtcp.xr_loss_rate", M.fmt_int(xr.loss_rate))
      w.value("sipdiag.stream.rtcp.xr_mos_lq", M.fmt_int(xr.mos_lq))
      w.value("sipdiag.stream.rtcp.xr_r_factor", M.fmt_int(xr.r_factor))
    end
    w.close()
  end
  w.close()
end

local function render_message(w, m)
  w.open("sipdiag.msg", m.start_line)
  w.value("sipdiag.msg.frame", M.fmt_int(m.frame))
  w.value("sipdiag.msg.index", M.fmt_int(m.index))
  w.value("sipdiag.msg.time", M.fmt_time(m.time))
  w.field("sipdiag.msg.src", m.src)
  w.value("sipdiag.msg.src_port", M.fmt_int(m.src_port))
  w.field("sipdiag.msg.dst", m.dst)
  w.value("sipdiag.msg.dst_port", M.fmt_int(m.dst_port))
  w.field("sipdiag.msg.transport", m.transport)
  w.field("sipdiag.msg.kind", m.kind)
  w.field("sipdiag.msg.method", m.method)
  w.field("sipdiag.msg.request_uri", m.request_uri)
  if m.status then w.value("sipdiag.msg.status", M.fmt_int(m.status)) end
  w.field("sipdiag.msg.reason", m.reason)
  if m.cseq then w.value("sipdiag.msg.cseq", M.fmt_int(m.cseq)) end
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
  for _, x in ipairs(m.xheaders) do
    w.open("sipdiag.msg.xheader", x.name .. ": " .. x.value)
    w.field("sipdiag.msg.xheader.name", x.name)
    w.field("sipdiag.msg.xheader.value", x.value)
    w.close()
  end
  if m.xheaders_dropped > 0 then
    w.value("sipdiag.msg.xheaders_dropped", M.fmt_int(m.xheaders_dropped))
  end
  if m.sdp then render_sdp(w, m.sdp) end
  w.close()
end

local function render_call(w, call, cap)
  w.line("<packet>")
  w.depth = w.depth + 1
  w.line('<proto name="sipdiag.call" showname="sipdiag call ' .. M.xml_attr(call.id) .. '">')
  w.depth = w.depth + 1
  w.field("sipdiag.call.id", call.id)
  w.value("sipdiag.call.first_frame", M.fmt_int(call.first_frame))
  w.value("sipdiag.call.messages", M.fmt_int(call.total))
  w.value("sipdiag.call.retransmissions", M.fmt_int(call.retransmissions))
  w.value("sipdiag.call.messages_dropped", M.fmt_int(call.dropped))
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

-- The whole PDML document for a collected state, as one string.
-- header: { creator=, wireshark=, lua= }. A call that cannot be rendered is
-- left out and counted as a tap error, so the document stays well-formed.
function M.render_pdml(header, cap, calls, on_error)
  local rendered = {}
  for _, call in ipairs(calls) do
    local w = new_writer()
    local ok, err = pcall(render_call, w, call, cap)
    if ok then
      rendered[#rendered + 1] = table.concat(w.out, "\n")
    elseif on_error then
      on_error(call.first_frame, "rendering call: " .. tostring(err))
    end
  end
  local w = new_writer()
  w.line('<?xml version="1.0" encoding="utf-8"?>')
  w.line('<pdml version="0" creator="' .. M.xml_attr(header.creator)
         .. '" sipdiag_schema="' .. SCHEMA_VERSION
         .. '" wireshark="' .. M.xml_attr(header.wireshark)
         .. '" lua="' .. M.xml_attr(header.lua) .. '">')
  render_capture(w, cap)
  -- the document as chunks, written one by one: no copy of the whole document
  local chunks = { table.concat(w.out, "\n") .. "\n" }
  for _, text in ipairs(rendered) do chunks[#chunks + 1] = text .. "\n" end
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
  chunks[#chunks + 1] = "</pdml>\n"
  return chunks
end

---------------------------------------------------------------------------
-- Pure helpers: collecting calls
---------------------------------------------------------------------------

-- A fresh collection state.
function M.new_state()
  return {
    packets = 0,
    first_abs = nil,          -- absolute time of the first packet (s since epoch)
    last_abs = nil,           -- absolute time of the last packet
    sip_messages = 0,
    calls = {},               -- array of calls in order of first appearance
    call_by_id = {},          -- map from Call-ID to call
    other_sip = {},           -- map from non-call method to message count
    other_count = 0,          -- number of keys in other_sip
    other_first = {},         -- map from non-call method to the first frame it was seen in
    tls = {},                 -- map from TLS server port to {port, frames, first_frame}
    tls_count = 0,            -- number of keys in tls
    tls_ports_dropped = 0,    -- TLS frames on ports beyond MAX_TLS_PORTS
    snapped_sip_frames = 0,   -- SIP frames cut by the capture's snap length
    tap_errors = 0,
    tap_error_samples = {},   -- first MAX_TAP_ERRORS_KEPT {frame, message}
    frame_call = {},          -- map from frame number to the call of a SIP message in it
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
    sdp_ports = {},           -- set of those ports (a cheap first test per UDP packet)
  }
end

function M.note_error(state, frame, err)
  state.tap_errors = state.tap_errors + 1
  if #state.tap_error_samples < MAX_TAP_ERRORS_KEPT then
    state.tap_error_samples[#state.tap_error_samples + 1] = { frame = frame, message = bounded(tostring(err)) }
  end
end

-- Count SIP messages that belong to no call, by method (bounded).
function M.count_other(state, method, count, frame)
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

-- Add one parsed SIP message (with frame, time, addresses filled in).
function M.add_message(state, msg)
  state.sip_messages = state.sip_messages + 1
  local method = M.dialog_method(msg)
  local id = msg.call_id
  if id == nil or (method and M.NON_CALL_METHODS[method]) then
    M.count_other(state, id == nil and "(no Call-ID)" or method, 1, msg.frame)
    return
  end
  local call = state.call_by_id[id]
  if call == nil then
    call = { id = id, first_frame = msg.frame, msgs = {}, seen = {}, total = 0,
             retransmissions = 0, dropped = 0, is_call = false, methods = {} }
    state.call_by_id[id] = call
    state.calls[#state.calls + 1] = call
  end
  if method and M.CALL_METHODS[method] then call.is_call = true end
  if state.frame_call[msg.frame] == nil then state.frame_call[msg.frame] = call end
  if method then call.methods[method] = (call.methods[method] or 0) + 1 end
  call.total = call.total + 1
  local key = M.retransmission_key(msg, msg.src .. "\0" .. msg.src_port, msg.dst .. "\0" .. msg.dst_port)
  if call.seen[key] then
    msg.retransmission = true
    call.retransmissions = call.retransmissions + 1
  else
    call.seen[key] = true
  end
  if msg.sdp then M.note_sdp_endpoints(state, msg) end
  if #call.msgs < MAX_MSGS_PER_CALL then
    call.msgs[#call.msgs + 1] = msg
  else
    call.dropped = call.dropped + 1
  end
end

-- Remember the RTP address:ports a message's SDP advertises, with the payload
-- types it lists, so that RTP tshark leaves undecoded can still be read.
function M.note_sdp_endpoints(state, msg)
  for _, media in ipairs(msg.sdp.media) do
    local addr = media.connection or msg.sdp.connection
    if addr and media.port and media.port > 0 and (media.proto or ""):find("RTP", 1, true) then
      local key = addr .. "|" .. media.port
      local known = state.sdp_endpoints[key]
      if known == nil and state.sdp_endpoint_count >= MAX_SDP_ENDPOINTS then return end
      if known == nil then state.sdp_endpoint_count = state.sdp_endpoint_count + 1 end
      local formats = {}
      for pt in (media.formats or ""):gmatch("%d+") do formats[tonumber(pt)] = true end
      state.sdp_endpoints[key] = { frame = msg.frame, formats = formats }
      state.sdp_ports[media.port] = true
    end
  end
end

-- The SDP endpoint a UDP datagram is sent to (or, failing that, from), when
-- its first bytes are an RTP version 2 header with a payload type that SDP
-- lists: {frame, formats}, or nil.
function M.sdp_rtp_endpoint(state, src, src_port, dst, dst_port, b1, b2)
  if b1 < 128 or b1 >= 192 then return nil end
  local ep = state.sdp_endpoints[dst .. "|" .. dst_port] or state.sdp_endpoints[src .. "|" .. src_port]
  if ep and ep.formats[b2 % 128] then return ep end
  return nil
end

function M.note_tls(state, frame, src_port, dst_port)
  local port = (src_port == 5061 or dst_port == 5061) and 5061 or math.min(src_port, dst_port)
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

-- A new stream for (ssrc, ports key), or nil past the bound.
function M.add_stream(state, ssrc, key, src, src_port, dst, dst_port, setup_frame)
  if #state.streams >= MAX_STREAMS then
    state.streams_dropped = state.streams_dropped + 1
    return nil
  end
  local st = M.new_stream(ssrc)
  st.src, st.src_port, st.dst, st.dst_port, st.setup_frame = src, src_port, dst, dst_port, setup_frame
  st.clocks = {}
  local call = setup_frame and state.frame_call[setup_frame]
  if call and call.is_call then st.call, st.link = call, "setup-frame" end
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
          name, rate = M.rtpmap_of(media, pt)
          if name then break end
        end
      end
      if name then break end
    end
  end
  local clock = M.clock_rate(pt, name, rate)
  st.clocks[pt] = clock
  return clock
end

-- Streams without a setup frame go to the call whose SDP advertised their
-- destination (or, failing that, their source) address:port.
local function link_streams(state, calls)
  local by_endpoint = {}
  for _, call in ipairs(calls) do
    call.endpoints = {}  -- set of "address|port" its SDPs advertised
    for _, m in ipairs(call.msgs) do
      for _, media in ipairs(m.sdp and m.sdp.media or {}) do
        local addr = media.connection or m.sdp.connection
        if addr and media.port and media.port > 0 then
          local key = addr .. "|" .. media.port
          call.endpoints[key] = true
          if by_endpoint[key] == nil then by_endpoint[key] = call end
        end
      end
    end
  end
  local unlinked = {}
  for _, st in ipairs(state.streams) do
    if st.call == nil then
      local call = by_endpoint[st.dst .. "|" .. st.dst_port] or by_endpoint[st.src .. "|" .. st.src_port]
      if call then st.call, st.link = call, "sdp-address" end
    end
    if st.call then
      st.src_in_sdp = st.call.endpoints[st.src .. "|" .. st.src_port] == true
      st.call.streams = st.call.streams or {}
      st.call.streams[#st.call.streams + 1] = st
    else
      unlinked[#unlinked + 1] = st
    end
  end
  return unlinked
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
      for method, count in pairs(call.methods) do M.count_other(state, method, count, call.first_frame) end
    end
  end
  local other_methods = {}
  for method in pairs(state.other_sip) do other_methods[#other_methods + 1] = method end
  table.sort(other_methods)
  local tls = {}
  for _, t in pairs(state.tls) do tls[#tls + 1] = t end
  table.sort(tls, function(a, b) return a.port < b.port end)
  local cap = {
    packets = state.packets,
    start_epoch = state.first_abs,
    duration = (state.first_abs and state.last_abs) and (state.last_abs - state.first_abs) or 0,
    sip_messages = state.sip_messages,
    calls = ncalls,
    other_sip = state.other_sip,
    other_first = state.other_first,
    other_methods = other_methods,
    tls = tls,
    tls_ports_dropped = state.tls_ports_dropped,
    snapped_sip_frames = state.snapped_sip_frames,
    tap_errors = state.tap_errors,
    tap_error_samples = state.tap_error_samples,
    rtp_streams = #state.streams,
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

---------------------------------------------------------------------------
-- Pure helpers: what the Tools menu shows without the post-processor
---------------------------------------------------------------------------

-- The final response to the call's INVITE (the last one seen), or nil.
local function final_status(call)
  local final
  for _, m in ipairs(call.msgs) do
    if m.status and m.status >= 200 and m.cseq_method == "INVITE" then final = m.status end
  end
  return final
end

-- A short text summary of the calls and their streams (no rules: those need
-- the post-processor).
function M.brief(cap, calls)
  local lines = {
    string.format("%d packets, %d SIP messages, %d call(s), %d RTP stream(s)", cap.packets, cap.sip_messages,
                  #calls, cap.rtp_streams or 0),
    "",
  }
  for i, call in ipairs(calls) do
    local first = call.msgs[1]
    local from = first and first.from_addr and first.from_addr.uri or "?"
    local to = first and first.to_addr and first.to_addr.uri or "?"
    lines[#lines + 1] = string.format("%d. %s", i, call.id)
    lines[#lines + 1] = string.format("   %s -> %s, final response %s, %d SIP message(s)", from, to,
                                      tostring(final_status(call) or "none"), call.total)
    for _, st in ipairs(call.streams or {}) do
      lines[#lines + 1] = string.format("   RTP %s:%d -> %s:%d SSRC 0x%08X: %d packets, %d lost, jitter %.1f ms",
                                        st.src, st.src_port, st.dst, st.dst_port, st.ssrc, st.packets,
                                        M.expected(st) - st.packets, st.mean_jitter)
    end
  end
  return table.concat(lines, "\n") .. "\n"
end

-- A display filter showing a call's SIP, RTP and RTCP.
function M.call_filter(call)
  local parts = { 'sip.Call-ID == "' .. call.id:gsub("\\", "\\\\"):gsub('"', '\\"') .. '"' }
  for _, st in ipairs(call.streams or {}) do
    -- by ports as well as SSRC: two calls can carry the same SSRC
    if st.decoded_by then  -- not rtp to this Wireshark: the SSRC's bytes in the UDP payload
      parts[#parts + 1] = string.format("(udp.srcport == %d && udp.dstport == %d && udp.payload[8:4] == %02x:%02x:%02x:%02x)",
                                        st.src_port, st.dst_port, math.floor(st.ssrc / 16777216) % 256,
                                        math.floor(st.ssrc / 65536) % 256, math.floor(st.ssrc / 256) % 256, st.ssrc % 256)
    else
      parts[#parts + 1] = string.format("(rtp.ssrc == 0x%08X && udp.srcport == %d && udp.dstport == %d)",
                                        st.ssrc, st.src_port, st.dst_port)
    end
    parts[#parts + 1] = string.format("(rtcp && udp.srcport == %d && udp.dstport == %d)",
                                      st.src_port + 1, st.dst_port + 1)
  end
  if #parts == 1 then return parts[1] end
  -- not the copies that ICMP errors quote
  return "(" .. table.concat(parts, " || ") .. ") && !(icmp || icmpv6)"
end

-- The call the user asked for: its number in the list, its Call-ID, or the
-- only Call-ID that starts with what was typed.
function M.pick_call(calls, wanted)
  wanted = trim(wanted or "")
  if wanted == "" then return nil end
  local n = tonumber(wanted)
  if n and calls[n] then return calls[n] end
  local found
  for _, call in ipairs(calls) do
    if call.id == wanted then return call end
    if call.id:sub(1, #wanted) == wanted then
      if found then return nil end  -- ambiguous
      found = call
    end
  end
  return found
end

-- Outside Wireshark (plain lua, for tests) the helpers are the module.
if not (rawget(_G, "Field") and rawget(_G, "Listener")) then
  return M
end

---------------------------------------------------------------------------
-- The tap (Wireshark API from here on)
---------------------------------------------------------------------------

-- Field extractors: all declared here, at load time (Field.new errors inside
-- callbacks). Each declared field is built in every packet that has it, so
-- only these few are declared; SIP headers are read from the message text.
local f_sip = Field.new("sip")
local f_websocket = Field.new("websocket")
local f_tls = Field.new("tls")
local f_rtp = Field.new("rtp")
local f_rtp_setup = Field.new("rtp.setup-frame")
local f_rtcp = Field.new("rtcp")
local f_udp = Field.new("udp")
local f_tls_app_data = Field.new("tls.app_data")
local f_srtcp_e = Field.new("srtcp.e")
local f_icmp = Field.new("icmp")
local f_icmpv6 = Field.new("icmpv6")

-- Script arguments: -X lua_script1:out=PATH
local script_args = { ... }
local out_path = nil
for _, arg in ipairs(script_args) do
  local v = arg:match("^out=(.+)$")
  if v then out_path = v end
end

-- map from pinfo.port_type to transport name (epan/address.h, stable since 1.x)
local PORT_TYPES = { [1] = "SCTP", [2] = "TCP", [3] = "UDP" }

local state = M.new_state()
local last_sip_frame = -1   -- the sip tap runs once per SIP PDU; a frame is read once

local function note_time(pinfo)
  local t = pinfo.abs_ts
  if state.first_abs == nil then state.first_abs = t end
  state.last_abs = t
end

local function transport_of(pinfo)
  local ws, tls = f_websocket(), f_tls()
  if ws then return tls and "WSS" or "WS" end
  if tls then return "TLS" end
  local ok, pt = pcall(function() return pinfo.port_type end)
  return (ok and PORT_TYPES[pt]) or "UNKNOWN"
end

local function read_sip_frame(pinfo)
  local frame = pinfo.number
  if pinfo.caplen < pinfo.len then state.snapped_sip_frames = state.snapped_sip_frames + 1 end
  local transport = transport_of(pinfo)
  local src, dst = tostring(pinfo.src), tostring(pinfo.dst)
  local src_port, dst_port = pinfo.src_port, pinfo.dst_port
  local time = pinfo.abs_ts - state.first_abs
  local pdus = { f_sip() }
  for index = 1, #pdus do
    local ok, err = pcall(function()
      local msg = M.parse_sip(pdus[index].range:raw())
      msg.frame, msg.index, msg.time = frame, index, time
      msg.src, msg.dst, msg.src_port, msg.dst_port = src, dst, src_port, dst_port
      msg.transport = transport
      M.add_message(state, msg)
    end)
    if not ok then M.note_error(state, frame, err) end
  end
end

-- map from src_port*65536+dst_port to where the RTP header sits in the frame's bytes
local header_offset = {}
-- where the RTP header sat in the last RTP frame read through the field:
-- captures mostly keep one encapsulation, so the next header is there too
local guess = 0

-- The hot path: every RTP packet. Nothing is formatted and no userdata is
-- made per packet once a stream is known: the UDP ports and the RTP header
-- are read from the frame's bytes at the offset where the stream's first
-- packet had them (learnt from the rtp field, verified byte for byte), and
-- the stream is found through numeric keys. Anything else (a new stream,
-- another encapsulation, RTP over TCP) takes the field's path.
local rtp_packet, stream_clock = M.rtp_packet, M.stream_clock

local function read_rtp(pinfo, tvb, number)
  local abs = pinfo.abs_ts
  if state.first_abs == nil then state.first_abs = abs end
  state.last_abs = abs
  local st, b1, b2, s1, s2, t1, t2, t3, t4, x1, x2, x3, x4
  if guess > 8 and guess + 12 <= tvb:len() then
    -- two short reads: the ports (the same string for every packet of a
    -- stream, so Lua finds it interned) and the header. One read of both is
    -- slower: Lua 5.2 hashes a short string mostly by its first bytes, and
    -- ports first make every packet's string collide with the stream's others.
    local p1, p2, q1, q2 = tvb:raw(guess - 8, 4):byte(1, 4)
    b1, b2, s1, s2, t1, t2, t3, t4, x1, x2, x3, x4 = tvb:raw(guess, 12):byte(1, 12)
    local by_ports = state.stream_index[((x1 * 256 + x2) * 256 + x3) * 256 + x4]
    st = by_ports and by_ports[(p1 * 256 + p2) * 65536 + q1 * 256 + q2]
    if st and st.offset ~= guess then st = nil end
  end
  if st == nil then
    local src_port, dst_port = pinfo.src_port, pinfo.dst_port
    local key = src_port * 65536 + dst_port
    local offset = header_offset[key]
    if offset and offset + 12 <= tvb:len() then
      b1, b2, s1, s2, t1, t2, t3, t4, x1, x2, x3, x4 = tvb:raw(offset, 12):byte(1, 12)
      local by_ports = state.stream_index[((x1 * 256 + x2) * 256 + x3) * 256 + x4]
      st = by_ports and by_ports[key]
    end
    if st == nil then
      local fi = f_rtp()
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
        local setup = f_rtp_setup()
        st = M.add_stream(state, ssrc, key, tostring(pinfo.src), src_port, tostring(pinfo.dst), dst_port,
                          setup and setup.value)
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
  rtp_packet(st, (abs - state.first_abs) * 1000, s1 * 256 + s2, ((t1 * 256 + t2) * 256 + t3) * 256 + t4,
             pt, b2 >= 128, st.clocks[pt] or stream_clock(st, pt), number)
end

-- UDP that tshark did not decode as RTP (Wireshark 4.0 misses some streams a
-- re-INVITE sets up) but that is sent to or from an address:port an earlier
-- SDP advertised, and starts with an RTP header of a payload type that SDP
-- lists. Read like any stream and marked decoded_by "sipdiag".
local function read_sdp_udp(pinfo, tvb)
  local src_port, dst_port = pinfo.src_port, pinfo.dst_port
  if not (state.sdp_ports[dst_port] or state.sdp_ports[src_port]) then return end
  local layers = { f_udp() }
  local udp = layers[#layers]  -- the innermost UDP of a tunnel
  if udp == nil then return end
  local offset = udp.offset + 8
  if offset + 12 > tvb:len() then return end
  local u1, u2, v1, v2 = tvb:raw(udp.offset, 4):byte(1, 4)
  if u1 * 256 + u2 ~= src_port or v1 * 256 + v2 ~= dst_port then return end  -- not in the frame's own bytes
  local b1, b2, s1, s2, t1, t2, t3, t4, x1, x2, x3, x4 = tvb:raw(offset, 12):byte(1, 12)
  local src, dst = tostring(pinfo.src), tostring(pinfo.dst)
  local ep = M.sdp_rtp_endpoint(state, src, src_port, dst, dst_port, b1, b2)
  if ep == nil then return end
  local abs = pinfo.abs_ts
  local key = src_port * 65536 + dst_port
  local ssrc = ((x1 * 256 + x2) * 256 + x3) * 256 + x4
  local by_ports = state.stream_index[ssrc]
  local st = by_ports and by_ports[key]
  if st == nil then
    st = M.add_stream(state, ssrc, key, src, src_port, dst, dst_port, ep.frame)
    if st == nil then
      state.rtp_dropped = state.rtp_dropped + 1
      return
    end
    st.decoded_by = "sipdiag"
    if st.call then st.link = "sdp-address" end
  end
  local pt = b2 % 128
  rtp_packet(st, (abs - state.first_abs) * 1000, s1 * 256 + s2, ((t1 * 256 + t2) * 256 + t3) * 256 + t4,
             pt, b2 >= 128, st.clocks[pt] or stream_clock(st, pt), pinfo.number)
end

local function read_rtcp(pinfo)
  local t = pinfo.abs_ts - state.first_abs
  local items = { f_rtcp() }
  local encrypted = f_srtcp_e()
  -- SRTCP with the E flag: only the first 8 bytes (header, sender SSRC) are in clear
  local clear = encrypted and encrypted.value and 8 or nil
  for i = 1, #items do
    local raw = items[i].range:raw()
    local packet = M.parse_rtcp(clear and raw:sub(1, clear) or raw)
    if packet then
      state.rtcp_packets = state.rtcp_packets + 1
      M.add_rtcp(state, packet, t, pinfo.number)
    end
  end
end

-- The PDML document of what the taps collected.
local function render_document()
  local cap, calls = M.finish(state)
  local header = {
    creator = "sipdiag/" .. TAP_VERSION,
    wireshark = (get_version and get_version()) or "unknown",
    lua = _VERSION,
  }
  return M.render_pdml(header, cap, calls, function(frame, err)
    M.note_error(state, frame, err)
    cap.tap_errors = state.tap_errors
  end), cap, calls
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

-- tshark's end of the capture: the document to out= or stdout.
local function write_output()
  local doc = render_document()
  if out_path == nil then
    for _, chunk in ipairs(doc) do io.write(chunk) end
    return
  end
  local ok, err = write_document(doc, out_path)
  if not ok then io.stderr:write("sipdiag: cannot write " .. out_path .. ": " .. tostring(err) .. "\n") end
end

local last_rtp_frame = -1  -- the rtp tap runs once per RTP PDU; a frame is counted once

local function reset_state()
  state = M.new_state()
  last_sip_frame = -1
  last_rtp_frame = -1
  header_offset = {}
  guess = 0
end

-- Everything in a frame that is not RTP: RTCP, TLS that no dissector turned
-- into SIP, and UDP to SDP endpoints that tshark left undecoded.
local function read_other(pinfo, tvb)
  if f_icmp() or f_icmpv6() then return end  -- packets quoted in ICMP errors are not traffic
  if f_rtcp() then
    read_rtcp(pinfo)
  elseif f_sip() == nil then
    if f_tls_app_data() then
      M.note_tls(state, pinfo.number, pinfo.src_port, pinfo.dst_port)
    elseif state.sdp_endpoint_count > 0 then
      read_sdp_udp(pinfo, tvb)
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

  local function on_frame(pinfo, tvb)
    state.packets = state.packets + 1
    note_time(pinfo)
    local ok, err = pcall(read_other, pinfo, tvb)
    if not ok then M.note_error(state, pinfo.number, err) end
  end

  local function on_sip(pinfo)
    if pinfo.number == last_sip_frame then return end
    last_sip_frame = pinfo.number
    note_time(pinfo)
    local ok, err = pcall(read_sip_frame, pinfo)
    if not ok then M.note_error(state, pinfo.number, err) end
  end

  local function on_rtp(pinfo, tvb)
    local number = pinfo.number
    if number ~= last_rtp_frame then
      last_rtp_frame = number
      state.packets = state.packets + 1
    end
    local ok, err = pcall(read_rtp, pinfo, tvb, number)
    if not ok then M.note_error(state, number, err) end
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

-- Run the taps over the open capture, then `after` (its errors are shown).
-- The listeners exist only for this retap, so the plugin costs nothing while
-- unused. Tests under tshark, which cannot retap, provide sipdiag_test_defer
-- to run `after` at the end of tshark's own pass.
local function with_fresh_tap(after)
  reset_state()
  local listeners = register_taps(nil)
  retap_packets()
  local function finish()
    for _, listener in ipairs(listeners) do listener:remove() end
    local ok, err = pcall(after)
    if not ok then
      local window = TextWindow.new("SIP Diagnostics: error")
      window:set("sipdiag could not finish: " .. tostring(err) .. "\n")
    end
  end
  local defer = rawget(_G, "sipdiag_test_defer")
  if defer then defer(finish) else finish() end
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

local function show_text(title, text)
  local window = TextWindow.new("SIP Diagnostics: " .. title)
  window:set(text)
  local echo = os.getenv("SIPDIAG_GUI_ECHO")  -- tests read what the window shows
  if echo then
    local fh = io.open(echo, "wb")
    if fh then
      fh:write(text)
      fh:close()
    end
  end
end

local function call_checklist()
  with_fresh_tap(function()
    local doc, cap, calls = render_document()
    local text = post_processor_checklist(doc)
    if text == nil then
      text = M.brief(cap, calls) .. "\nThe full checklist (rules, evidence, remedies) needs the sipdiag "
          .. "post-processor: install it from a sipdiag checkout (`pipx install .`, or `make venv`) so that "
          .. "`sipdiag` is on the PATH Wireshark sees, or set SIPDIAG_BIN to its path; then run this again.\n"
    end
    show_text("call checklist", text)
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
      local cap, calls = M.finish(state)
      local call = M.pick_call(calls, wanted)
      if call then
        set_filter(M.call_filter(call))
        apply_filter()
        return
      end
      local head = (wanted and trim(wanted) ~= "") and ("No single call matches '" .. wanted .. "'.\n\n") or ""
      show_text("calls", head .. M.brief(cap, calls)
                .. "\nRun Filter a call... again with a call's number, its Call-ID or its beginning.\n")
    end)
  end, "Call: its number, Call-ID or Call-ID's beginning (empty: list the calls)")
end

-- A copy in a Wireshark plugins folder is loaded by every tshark too: there it
-- stays silent, so `tshark -X lua_script:...` runs the tap once.
local function loaded_as_plugin()
  local source = (debug.getinfo(1, "S").source or ""):lower():gsub("\\", "/")
  return source:find("/wireshark/plugins/", 1, true) ~= nil
end

if gui_enabled() then
  local group = MENU_TOOLS_UNSORTED
  register_menu("SIP Diagnostics/Call checklist", call_checklist, group)
  register_menu("SIP Diagnostics/Export per-call PDML...", export_pdml, group)
  register_menu("SIP Diagnostics/Filter a call...", filter_call, group)
elseif not loaded_as_plugin() then
  register_taps(write_output)
end
