--[[
sipdiag.brief: what the Tools menu shows and does without the post-processor:
a short text summary of the calls and their streams, a display filter for
one call, and the call a user's answer names.

Pure: no Wireshark API, no globals, nothing registered; loading it only
returns the table below.
]]

local text = require("sipdiag.text")
local rtp = require("sipdiag.rtp")
local trim = text.trim
local expected = rtp.expected

local M = {}

-- The call's final response, as the post-processor defines it (sipdiag_post/
-- analysis/flow.py): the first 2xx to an INVITE when the call was answered
-- (a later re-INVITE's failure does not undo the answer), else the last final
-- response to an INVITE; nil without one.
local function final_status(call)
  local final
  for _, m in ipairs(call.msgs) do
    if m.status and m.status >= 200 and m.cseq_method == "INVITE" then
      if m.status < 300 then return m.status end
      final = m.status
    end
  end
  return final
end

-- A short text summary of the calls and their streams (no rules: those need
-- the post-processor).
function M.summary(cap, calls)
  local lines = {
    string.format("%d packets, %d SIP messages, %d call(s), %d RTP stream(s)", cap.packets, cap.sip_messages,
                  #calls, cap.rtp_streams or 0),
    "",
  }
  if (cap.calls_dropped_messages or 0) > 0 then  -- the tap's bound on calls: say what is not listed
    lines[2] = string.format("%s%d more call(s) past the tap's bound not kept (%d SIP messages)\n",
                             cap.calls_dropped_at_least and "at least " or "", cap.calls_dropped or 0,
                             cap.calls_dropped_messages)
  end
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
                                        expected(st) - st.packets, st.mean_jitter)
    end
  end
  return table.concat(lines, "\n") .. "\n"
end

-- A display-filter string literal for bytes: printable ASCII as it is (a quote
-- or backslash escaped), every other byte as \xNN.
local function literal(s)
  return '"' .. s:gsub(".", function(c)
    if c == '"' or c == "\\" then return "\\" .. c end
    local b = c:byte()
    if b < 32 or b > 126 then return string.format("\\x%02x", b) end
    return c
  end) .. '"'
end

-- A display filter for the frames that hold a message of this Call-ID and
-- no other's: every Call-ID in the frame equal (===), so a message that
-- adds a second Call-ID header is not selected, unless the frame carries
-- several SIP messages (TCP), where any of them may be this call's. tshark
-- shows an invalid UTF-8 byte as U+FFFD and ends a value at NUL: such a
-- Call-ID is found by its bytes in the frame instead.
function M.call_id_filter(id)
  local lit = literal(id)
  if text.utf8_sanitize(id) ~= id or id:find("\0", 1, true) then return "(sip && frame contains " .. lit .. ")" end
  return "(sip.Call-ID === " .. lit .. " || (sip.Call-ID == " .. lit .. " && count(sip) > 1))"
end

-- A display filter showing a call's SIP, RTP and RTCP.
function M.call_filter(call)
  local parts = { M.call_id_filter(call.id) }
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

return M
