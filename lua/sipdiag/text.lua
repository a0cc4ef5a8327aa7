--[[
sipdiag.text: text taken from a capture, bounded and made safe for XML.

Pure: no Wireshark API, no globals, nothing registered; loading it only
returns the table below (plain `lua` loads it for tests/lua/).
]]

local M = {}

-- Longest header value or URI kept; longer ones are cut and say so.
M.MAX_VALUE_BYTES = 1024
local MAX_VALUE_BYTES = M.MAX_VALUE_BYTES

-- bytes that are %s (C isspace): tab, LF, VT, FF, CR, space
local SPACE = { [9] = true, [10] = true, [11] = true, [12] = true, [13] = true, [32] = true }
local find, sub, byte = string.find, string.sub, string.byte

-- s without leading and trailing white space (%s)
function M.trim(s)
  local b = #s
  if not SPACE[byte(s, 1)] and not SPACE[byte(s, b)] then return s end
  local a = find(s, "%S")
  if a == nil then return "" end
  while SPACE[byte(s, b)] do b = b - 1 end
  return sub(s, a, b)
end

-- Cut s to MAX_VALUE_BYTES, saying how much was cut.
function M.bounded(s)
  if s == nil or #s <= MAX_VALUE_BYTES then return s end
  return s:sub(1, MAX_VALUE_BYTES) .. string.format("...[+%d bytes]", #s - MAX_VALUE_BYTES)
end

-- s with every byte that is not part of a valid UTF-8 encoding of a
-- character allowed in XML 1.0 replaced by bad(byte). ASCII is left alone.
local function utf8_map(s, bad)
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
      out[n] = bad(c)
      i = i + 1
    end
  end
  return table.concat(out)
end

-- Replace every byte that is not part of a valid UTF-8 encoding of a
-- character allowed in XML 1.0 by U+FFFD. ASCII control characters are left
-- to xml_attr.
local REPLACEMENT = "\239\191\189"
local function utf8_sanitize(s)
  return utf8_map(s, function() return REPLACEMENT end)
end
M.utf8_sanitize = utf8_sanitize

local function hex_byte(c) return string.format("\\x%02x", c) end

-- An identifier (a Call-ID) as text that stays distinct from every other and
-- can be turned back into its bytes: a backslash becomes \\, a control
-- character or a byte that cannot stand in XML as it is (not valid UTF-8,
-- U+FFFE, U+FFFF) becomes \xNN (two lower-case hex digits). The result is
-- valid UTF-8 without control characters.
function M.escape_id(s)
  s = tostring(s)
  if not s:find("[%c\\\128-\255]") then return s end
  s = s:gsub("\\", "\\\\"):gsub("%c", function(c) return hex_byte(c:byte()) end)
  return utf8_map(s, hex_byte)
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
  s = utf8_sanitize(s)
  return (s:gsub("[%c&<>\"']", function(c) return XML_ESCAPES[c] or REPLACEMENT end))
end

return M
