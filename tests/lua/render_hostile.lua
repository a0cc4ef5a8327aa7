-- Renders PDML for SIP messages full of hostile bytes (every byte value,
-- XML metacharacters, invalid UTF-8); tests/test_lua.py parses the result.
--   lua5.4 tests/lua/render_hostile.lua lua/ > out.pdml

local lua_dir = arg[1] or "lua/"
if lua_dir:sub(-1) ~= "/" then lua_dir = lua_dir .. "/" end
package.path = lua_dir .. "?.lua;" .. package.path
local sip = require("sipdiag.sip")
local state_m = require("sipdiag.state")
local pdml = require("sipdiag.pdml")

local bytes = {}
for b = 0, 255 do bytes[#bytes + 1] = string.char(b) end
local all = table.concat(bytes)
local evil = "<x a=\"&'\">" .. all .. "]]>&lol;"

local state = state_m.new()
local raw = table.concat({
  "INVITE sip:" .. evil:gsub("[%s\r\n]", "_") .. " SIP/2.0",
  "Via: SIP/2.0/UDP h;branch=z9hG4bK" .. evil:gsub("[%s;,\r\n]", "_"),
  "From: \"" .. evil:gsub("[\r\n]", "_") .. "\" <sip:a@b>;tag=t1",
  "Call-ID: " .. evil:gsub("[\r\n]", "_"),
  "CSeq: 1 INVITE",
  "X-" .. evil:gsub("[:\r\n]", "_") .. ": " .. evil:gsub("[\r\n]", "_"),
  "Reason: " .. evil:gsub("[\r\n]", "_"),
}, "\r\n") .. "\r\n\r\n"
local msg = sip.parse(raw)
msg.frame, msg.index, msg.time = 1, 1, 0
msg.src, msg.dst, msg.src_port, msg.dst_port, msg.transport = "10.0.0.1", "10.0.0.2", 5060, 5060, "UDP"
state_m.add_message(state, msg)
state_m.note_error(state, 1, evil)
state.packets = 1
local cap, calls = state_m.finish(state)
io.write(table.concat(pdml.render({ creator = "sipdiag/test" .. evil, wireshark = evil, lua = _VERSION }, cap, calls)))
