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
local SCHEMA_VERSION = "1.0"

-- Bounds that keep hostile captures from exhausting memory; each overflow is
-- counted and reported, never silently dropped.
local MAX_VALUE_BYTES = 1024     -- one header value or URI
local MAX_XHEADERS = 64          -- X- headers kept per message
local MAX_LIST_HEADERS = 16      -- Reason/Warning headers kept per message
local MAX_MSGS_PER_CALL = 2000   -- SIP messages kept per Call-ID
local MAX_TAP_ERRORS_KEPT = 10   -- error samples written to the capture record
local MAX_TLS_PORTS = 32         -- distinct TLS server ports tracked
local MAX_OTHER_METHODS = 64     -- distinct non-call method names counted by name

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

-- True when the body is (or, for multipart, contains) an SDP session.
local function body_has_sdp(content_type, body)
  if body == nil or body:find("^%s*$") then return false end
  local ct = (content_type or ""):lower()
  if ct:find("application/sdp", 1, true) then return true end
  if ct:find("^multipart/") then
    return body:lower():find("content%-type:%s*application/sdp") ~= nil
  end
  return ct == "" and body:find("^v=0") ~= nil
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
  msg.has_sdp = body_has_sdp(msg.content_type, body)
  msg.body_len = #body
  if (msg.content_type or ""):lower():find("^%s*message/sipfrag") then
    msg.sipfrag = bounded(trim(body:match("^[^\r\n]*") or ""))
  end
  return msg
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
local function new_writer()
  local w = { out = {}, depth = 0 }
  function w.line(s)
    w.out[#w.out + 1] = string.rep("  ", w.depth) .. s
  end
  function w.field(name, value)
    if value == nil then return end
    w.line('<field name="' .. name .. '" show="' .. M.xml_attr(value) .. '"/>')
  end
  function w.open(name, show)
    w.line('<field name="' .. name .. '" show="' .. M.xml_attr(show) .. '">')
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
  w.field("sipdiag.capture.packets", M.fmt_int(cap.packets))
  if cap.start_epoch then w.field("sipdiag.capture.start_epoch", M.fmt_time(cap.start_epoch)) end
  w.field("sipdiag.capture.duration", M.fmt_time(cap.duration or 0))
  w.field("sipdiag.capture.sip_messages", M.fmt_int(cap.sip_messages))
  w.field("sipdiag.capture.calls", M.fmt_int(cap.calls))
  for _, method in ipairs(cap.other_methods) do
    w.open("sipdiag.capture.other_sip", method)
    w.field("sipdiag.capture.other_sip.method", method)
    w.field("sipdiag.capture.other_sip.count", M.fmt_int(cap.other_sip[method]))
    w.field("sipdiag.capture.other_sip.first_frame", M.fmt_int(cap.other_first[method]))
    w.close()
  end
  for _, t in ipairs(cap.tls) do
    w.open("sipdiag.capture.tls_undecoded", M.fmt_int(t.port))
    w.field("sipdiag.capture.tls_undecoded.port", M.fmt_int(t.port))
    w.field("sipdiag.capture.tls_undecoded.frames", M.fmt_int(t.frames))
    w.field("sipdiag.capture.tls_undecoded.first_frame", M.fmt_int(t.first_frame))
    w.close()
  end
  if cap.tls_ports_dropped > 0 then
    w.field("sipdiag.capture.tls_ports_dropped", M.fmt_int(cap.tls_ports_dropped))
  end
  w.field("sipdiag.capture.snapped_sip_frames", M.fmt_int(cap.snapped_sip_frames))
  w.field("sipdiag.capture.tap_errors", M.fmt_int(cap.tap_errors))
  for _, e in ipairs(cap.tap_error_samples) do
    w.open("sipdiag.capture.tap_error", e.message)
    w.field("sipdiag.capture.tap_error.frame", M.fmt_int(e.frame))
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

local function render_message(w, m)
  w.open("sipdiag.msg", m.start_line)
  w.field("sipdiag.msg.frame", M.fmt_int(m.frame))
  w.field("sipdiag.msg.index", M.fmt_int(m.index))
  w.field("sipdiag.msg.time", M.fmt_time(m.time))
  w.field("sipdiag.msg.src", m.src)
  w.field("sipdiag.msg.src_port", M.fmt_int(m.src_port))
  w.field("sipdiag.msg.dst", m.dst)
  w.field("sipdiag.msg.dst_port", M.fmt_int(m.dst_port))
  w.field("sipdiag.msg.transport", m.transport)
  w.field("sipdiag.msg.kind", m.kind)
  w.field("sipdiag.msg.method", m.method)
  w.field("sipdiag.msg.request_uri", m.request_uri)
  if m.status then w.field("sipdiag.msg.status", M.fmt_int(m.status)) end
  w.field("sipdiag.msg.reason", m.reason)
  if m.cseq then w.field("sipdiag.msg.cseq", M.fmt_int(m.cseq)) end
  w.field("sipdiag.msg.cseq_method", m.cseq_method)
  w.field("sipdiag.msg.branch", m.branch)
  w.field("sipdiag.msg.from_tag", m.from_addr and m.from_addr.tag)
  w.field("sipdiag.msg.to_tag", m.to_addr and m.to_addr.tag)
  w.field("sipdiag.msg.retransmission", bool01(m.retransmission))
  w.field("sipdiag.msg.has_sdp", bool01(m.has_sdp))
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
    w.field("sipdiag.msg.xheaders_dropped", M.fmt_int(m.xheaders_dropped))
  end
  w.close()
end

local function render_call(w, call)
  w.line("<packet>")
  w.depth = w.depth + 1
  w.line('<proto name="sipdiag.call" showname="sipdiag call ' .. M.xml_attr(call.id) .. '">')
  w.depth = w.depth + 1
  w.field("sipdiag.call.id", call.id)
  w.field("sipdiag.call.first_frame", M.fmt_int(call.first_frame))
  w.field("sipdiag.call.messages", M.fmt_int(call.total))
  w.field("sipdiag.call.retransmissions", M.fmt_int(call.retransmissions))
  w.field("sipdiag.call.messages_dropped", M.fmt_int(call.dropped))
  local first = call.msgs[1]
  if first then
    render_name_addr(w, "sipdiag.call.from", first.from_addr)
    render_name_addr(w, "sipdiag.call.to", first.to_addr)
  end
  for _, m in ipairs(call.msgs) do render_message(w, m) end
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
    local ok, err = pcall(render_call, w, call)
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
  for _, text in ipairs(rendered) do w.out[#w.out + 1] = text end
  w.line("</pdml>")
  return table.concat(w.out, "\n") .. "\n"
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
  if method then call.methods[method] = (call.methods[method] or 0) + 1 end
  call.total = call.total + 1
  local key = M.retransmission_key(msg, msg.src .. "\0" .. msg.src_port, msg.dst .. "\0" .. msg.dst_port)
  if call.seen[key] then
    msg.retransmission = true
    call.retransmissions = call.retransmissions + 1
  else
    call.seen[key] = true
  end
  if #call.msgs < MAX_MSGS_PER_CALL then
    call.msgs[#call.msgs + 1] = msg
  else
    call.dropped = call.dropped + 1
  end
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
  }
  return cap, calls
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

local function write_output()
  local cap, calls = M.finish(state)
  local header = {
    creator = "sipdiag/" .. TAP_VERSION,
    wireshark = (get_version and get_version()) or "unknown",
    lua = _VERSION,
  }
  local doc = M.render_pdml(header, cap, calls, function(frame, err)
    M.note_error(state, frame, err)
    cap.tap_errors = state.tap_errors
  end)
  if out_path == nil then
    io.write(doc)
    return
  end
  local part = out_path .. ".part"
  local fh, err = io.open(part, "wb")
  if not fh then
    io.stderr:write("sipdiag: cannot write " .. out_path .. ": " .. tostring(err) .. "\n")
    return
  end
  fh:write(doc)
  fh:close()
  os.remove(out_path)
  local ok, rename_err = os.rename(part, out_path)
  if not ok then
    io.stderr:write("sipdiag: cannot write " .. out_path .. ": " .. tostring(rename_err) .. "\n")
  end
end

local function register_taps()
  local frame_tap = Listener.new("frame")
  local sip_tap = Listener.new("sip")
  -- TLS records carrying application data that no dissector turned into SIP
  local tls_tap = Listener.new("frame", "tls.app_data && !sip")

  local function on_frame(pinfo)
    state.packets = state.packets + 1
    note_time(pinfo)
  end

  local function on_sip(pinfo)
    if pinfo.number == last_sip_frame then return end
    last_sip_frame = pinfo.number
    note_time(pinfo)
    local ok, err = pcall(read_sip_frame, pinfo)
    if not ok then M.note_error(state, pinfo.number, err) end
  end

  local function on_tls(pinfo)
    local ok, err = pcall(M.note_tls, state, pinfo.number, pinfo.src_port, pinfo.dst_port)
    if not ok then M.note_error(state, pinfo.number, err) end
  end

  local function on_reset()
    state = M.new_state()
    last_sip_frame = -1
  end

  frame_tap.packet = on_frame
  frame_tap.draw = write_output
  frame_tap.reset = on_reset
  sip_tap.packet = on_sip
  tls_tap.packet = on_tls
end

-- In the GUI the Tools-menu entries drive the tap; under tshark it runs at once.
if not gui_enabled() then
  register_taps()
end
