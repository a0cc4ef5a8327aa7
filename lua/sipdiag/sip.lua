--[[
sipdiag.sip: the text of one SIP message (RFC 3261) read into a table, and
what tells its call and its retransmissions apart.

Pure: no Wireshark API, no globals, nothing registered; loading it only
returns the table below.
]]

local text = require("sipdiag.text")
local sdp = require("sipdiag.sdp")
local trim, bounded = text.trim, text.bounded
local sdp_of_body, parse_sdp = sdp.of_body, sdp.parse
local find, sub, byte = string.find, string.sub, string.byte

local M = {}

M.MAX_XHEADERS = 64       -- X- headers kept per message
M.MAX_LIST_HEADERS = 16   -- Reason/Warning headers kept per message
local MAX_XHEADERS, MAX_LIST_HEADERS = M.MAX_XHEADERS, M.MAX_LIST_HEADERS

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
  ["replaces"] = "replaces",
}
-- map from lower-case content type to true for bodies kept as text (DTMF relays, plain text, JSON)
local TEXT_BODIES = {
  ["text/plain"] = true, ["application/dtmf-relay"] = true, ["application/dtmf"] = true,
  ["application/json"] = true,
}
-- map from lower-case header name to true for digest authentication headers
local AUTH_HEADERS = {
  ["www-authenticate"] = true, ["proxy-authenticate"] = true,
  ["authorization"] = true, ["proxy-authorization"] = true,
}
-- map from lower-case header name to the list field it appends to
local LIST_HEADERS = { ["reason"] = "reasons", ["warning"] = "warnings" }

-- The value of a digest parameter (quoted or token), e.g. realm or username.
local function auth_param(value, name)
  local pattern = name:gsub("%a", function(c) return "[" .. c:upper() .. c:lower() .. "]" end)
  return value:match("[%s,]" .. pattern .. '%s*=%s*"([^"]*)"')
      or value:match("[%s,]" .. pattern .. "%s*=%s*([^,%s]+)")
end
M.auth_param = auth_param

-- Split "Display" <uri>;params (or uri;params) into display, uri, tag.
local function parse_name_addr(v)
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
M.parse_name_addr = parse_name_addr

-- The branch parameter of the first Via element.
local function via_branch(via)
  if via == nil then return nil end
  local first = via:match("^([^,]*)") or via
  return first:match(";%s*[Bb][Rr][Aa][Nn][Cc][Hh]%s*=%s*([^;,%s]+)")
end
M.via_branch = via_branch

-- The first Via element's sent-by (host[:port]) and its received and rport
-- parameters (RFC 3261 18.2.1, RFC 3581): what the next hop saw as the source.
local function via_params(via)
  if via == nil then return nil end
  local first = via:match("^([^,]*)") or via
  local sent_by = first:match("^%s*[Ss][Ii][Pp]%s*/%s*2%.0%s*/%s*%S+%s+([^;%s]+)")
  local received = first:match(";%s*[Rr][Ee][Cc][Ee][Ii][Vv][Ee][Dd]%s*=%s*([^;,%s]+)")
  local rport = first:match(";%s*[Rr][Pp][Oo][Rr][Tt]%s*=%s*(%d+)")
  if rport and #rport > 5 then rport = nil end  -- not a port
  return sent_by, received, rport
end
M.via_params = via_params

-- map from a header name as written (before the colon) to its lower-case
-- full name: the common spellings are met again and again, so each is worked
-- out once (bounded in number and length: hostile traffic may invent names without end)
local MAX_NAMES, MAX_NAME_BYTES = 512, 64
local names_known = 0
local HEADER_NAMES = {}
local function header_name(name)
  local lname = HEADER_NAMES[name]
  if lname then return lname end
  lname = trim(name):lower()
  if #lname == 1 then lname = COMPACT[lname] or lname end
  if names_known < MAX_NAMES and #name <= MAX_NAME_BYTES then
    names_known = names_known + 1
    HEADER_NAMES[name] = lname
  end
  return lname
end

-- Read one header into msg: its name as written, its value the bytes from..to
-- of src (cut out only for the headers kept). Returns the value of a Via.
local function read_header(msg, name, src, from, to)
  local lname = header_name(name)
  local field = SINGLE_HEADERS[lname]
  if field then
    local value = bounded(trim(sub(src, from, to)))
    if msg[field] == nil then
      msg[field] = value
    elseif field == "call_id" and msg.call_id ~= value then
      msg.call_id_conflict = true  -- a second, different Call-ID: no call may claim this message
    end
  elseif LIST_HEADERS[lname] then
    local list = msg[LIST_HEADERS[lname]]
    if #list < MAX_LIST_HEADERS then list[#list + 1] = bounded(trim(sub(src, from, to))) end
  elseif lname == "via" then
    return trim(sub(src, from, to))
  elseif AUTH_HEADERS[lname] then
    local value = trim(sub(src, from, to))
    -- only who and where: nonces and responses stay out of the summary
    msg.auth_realm = msg.auth_realm or bounded(auth_param(value, "realm"))
    if lname:find("authorization", 1, true) then
      msg.auth_username = msg.auth_username or bounded(auth_param(value, "username"))
    end
  elseif sub(lname, 1, 2) == "x-" then
    if #msg.xheaders < MAX_XHEADERS then
      msg.xheaders[#msg.xheaders + 1] = { name = bounded(trim(name)), value = bounded(trim(sub(src, from, to))) }
    else
      msg.xheaders_dropped = msg.xheaders_dropped + 1
    end
  end
  return nil
end

-- The header lines of head (after its start line), obsolete line folding
-- joined: for the rare message that folds a header over several lines.
local function unfolded_lines(head)
  local lines, n, at = {}, 0, 1
  while true do
    local lf = find(head, "\n", at, true)
    local line = sub(head, at, (lf or #head + 1) - 1)
    if byte(line, -1) == 13 then line = sub(line, 1, -2) end
    local c = byte(line, 1)
    if (c == 32 or c == 9) and n > 1 then
      lines[n] = lines[n] .. " " .. trim(line)  -- obsolete line folding
    else
      n = n + 1
      lines[n] = line
    end
    if lf == nil then break end
    at = lf + 1
  end
  return lines, n
end

-- Parse the raw text of one SIP message (start line, headers, body) into a
-- table. Never errors on malformed text: what cannot be read stays nil.
function M.parse(raw)
  local msg = { reasons = {}, warnings = {}, xheaders = {}, xheaders_dropped = 0 }
  local head, body
  local a, b = raw:find("\r\n\r\n", 1, true)
  if not a then a, b = raw:find("\n\n", 1, true) end
  if a then head, body = raw:sub(1, a - 1), raw:sub(b + 1) else head, body = raw, "" end

  -- the start line, then each header line: read in place (no string per line) unless a line is folded
  local first_lf = find(head, "\n", 1, true)
  local start = sub(head, 1, (first_lf or #head + 1) - 1)
  if byte(start, -1) == 13 then start = sub(start, 1, -2) end
  local via
  if first_lf and (find(head, "\n ", first_lf, true) or find(head, "\n\t", first_lf, true)) then
    local lines, n = unfolded_lines(head)
    start = lines[1]
    for i = 2, n do
      local line = lines[i]
      local colon = find(line, ":", 1, true)
      if colon and colon > 1 then
        local v = read_header(msg, sub(line, 1, colon - 1), line, colon + 1, #line)
        via = via or v
      end
    end
  elseif first_lf then
    -- the next colon is looked for again only once passed: lines without one cost no scan to the end
    local at, size, colon = first_lf + 1, #head, 0
    while at <= size do
      local lf = find(head, "\n", at, true) or size + 1
      local stop = lf - 1  -- the line's last byte, its CR left out
      if byte(head, stop) == 13 and stop >= at then stop = stop - 1 end
      if colon < at then colon = find(head, ":", at, true) or size + 1 end
      if colon > at and colon <= stop then
        local v = read_header(msg, sub(head, at, colon - 1), head, colon + 1, stop)
        via = via or v
      end
      at = lf + 1
    end
  end

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

  msg.branch = bounded(via_branch(via))
  local sent_by, received, rport = via_params(via)
  msg.via_sent_by, msg.via_received, msg.via_rport = bounded(sent_by), bounded(received), rport
  if msg.cseq_raw then
    local num, method = msg.cseq_raw:match("^(%d+)%s+(%S+)")
    if num and #num <= 10 then msg.cseq = tonumber(num) end  -- RFC 3261: < 2^31
    msg.cseq_method = method
  end
  msg.from_addr = parse_name_addr(msg.from)
  msg.to_addr = parse_name_addr(msg.to)
  local session = sdp_of_body(msg.content_type, body)
  msg.has_sdp = session ~= nil
  if session then msg.sdp = parse_sdp(session) end
  msg.body_len = #body
  local ctype = (msg.content_type or ""):lower():match("^%s*([^;%s]+)") or ""
  if ctype == "message/sipfrag" then
    msg.sipfrag = bounded(trim(body:match("^[^\r\n]*") or ""))
  elseif session == nil and body:find("%S") and (TEXT_BODIES[ctype] or (msg.status and msg.status >= 300)) then
    msg.body = bounded(trim(body))  -- what a DTMF INFO or a failure response says in words
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

-- Whether raw (a UDP datagram's payload) is plainly one whole SIP message, as
-- tshark reads it into one SIP item: CRLF line ends only, a header that ends
-- in an empty line, exactly one Content-Length that counts the body, and a
-- body that is empty or SDP (a body of another type may carry a SIP message
-- of its own, message/sip, that tshark lists as a second one). Anything
-- else is for the protocol tree to read.
function M.whole_message(raw)
  local a, b = find(raw, "\r\n\r\n", 1, true)
  if not a or a == 1 then return false end
  local length, ctype, lengths, ctypes = nil, nil, 0, 0
  local pos = 1
  while pos <= a do  -- line by line: each ends in CRLF, the last at a; no other CR or LF
    local lf = find(raw, "\n", pos, true)
    if find(raw, "\r", pos, true) ~= lf - 1 then return false end
    local c = byte(raw, pos)  -- only Content-Length and Content-Type (l, c) matter
    if pos > 1 and (c == 67 or c == 99 or c == 76 or c == 108) then
      local line = sub(raw, pos, lf - 2)
      local colon = find(line, ":", 1, true)
      if colon then
        local lname = trim(sub(line, 1, colon - 1)):lower()
        if lname == "content-length" or lname == "l" then
          length, lengths = sub(line, colon + 1), lengths + 1
        elseif lname == "content-type" or lname == "c" then
          ctype, ctypes = sub(line, colon + 1), ctypes + 1
        end
      end
    end
    pos = lf + 1
  end
  if lengths ~= 1 or ctypes > 1 then return false end
  local digits = length:match("^[ \t]*(%d+)[ \t]*$")
  local body = #raw - b
  if digits == nil or #digits > 9 or tonumber(digits) ~= body then return false end
  return body == 0 or (ctype or ""):lower():match("^[ \t]*([^;%s]+)") == "application/sdp"
end

-- A key that is equal for a message and its retransmissions.
function M.retransmission_key(msg, src, dst)
  if msg.kind == "request" then
    return table.concat({ "q", msg.method or "", msg.cseq_raw or "", msg.branch or "", src, dst }, "\0")
  end
  return table.concat({ "s", msg.status or "", msg.cseq_raw or "", msg.branch or "",
                        msg.to_addr and msg.to_addr.tag or "", src, dst }, "\0")
end

return M
