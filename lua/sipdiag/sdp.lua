--[[
sipdiag.sdp: the SDP of a SIP message body (RFC 4566): where it is in the
body, what its session and m= lines say, and what an rtpmap maps a payload
type to.

Pure: no Wireshark API, no globals, nothing registered; loading it only
returns the table below.
]]

local text = require("sipdiag.text")
local trim, bounded = text.trim, text.bounded

local M = {}

M.MAX_MEDIA = 16   -- m= lines kept per SDP
M.MAX_ATTRS = 32   -- rtpmap / fmtp lines kept per m= line
local MAX_MEDIA, MAX_ATTRS = M.MAX_MEDIA, M.MAX_ATTRS

-- map from direction attribute to true
local DIRECTIONS = { sendrecv = true, sendonly = true, recvonly = true, inactive = true }

-- The SDP session in a body: the body itself, or the application/sdp part of
-- a multipart body; nil when there is none.
function M.of_body(content_type, body)
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

-- Parse an SDP session description: session-level c=, o= and direction, and
-- per m= line its type, port, protocol, formats, c=, direction, rtpmap, fmtp,
-- ptime, and whether SRTP keying (a=crypto, a=fingerprint) is present.
function M.parse(sdp_text)
  local sdp = { media = {}, media_dropped = 0 }
  local cur = nil
  for line in sdp_text:gmatch("[^\r\n]+") do
    local k, v = line:match("^(%a)%s*=%s*(.*)$")
    if k == "o" then
      sdp.origin = bounded(v)
    elseif k == "s" and cur == nil then
      sdp.session_name = bounded(v)
    elseif k == "c" then
      local addr = v:match("^IN%s+IP[46]%s+([^%s/]+)")
      if cur then cur.connection = bounded(addr) elseif sdp.connection == nil then sdp.connection = bounded(addr) end
    elseif k == "m" then
      if #sdp.media < MAX_MEDIA then
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
        if name == "rtpmap" and #cur.rtpmap < MAX_ATTRS then
          cur.rtpmap[#cur.rtpmap + 1] = bounded(trim(value))
        elseif name == "fmtp" and #cur.fmtp < MAX_ATTRS then
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

return M
