--[[
sipdiag.frame: a frame's own bytes read without Wireshark's protocol tree,
where they plainly hold one whole UDP datagram.

Pure: no Wireshark API, no globals, nothing registered; loading it only
returns the table below (plain `lua` loads it for tests/lua/).
]]

local M = {}

local byte, sub = string.byte, string.sub

-- The payload of the one UDP datagram that `bytes` (a frame's bytes from its
-- IP header to the frame's end) holds, or nil. `version` (4 or 6) says which
-- IP header starts `bytes`. It must be plain, and everything must agree, or
-- the frame is for the protocol tree to read:
--   IPv4: a 20-byte header (no options), not a fragment, protocol UDP, its
--   total length reaching exactly the frame's end (no trailer, no snap);
--   IPv6: next header UDP (no extension header), its payload length reaching
--   exactly the frame's end;
--   UDP: from src_port to dst_port (the ports the packet's dissection saw),
--   its length reaching exactly the frame's end.
function M.udp_payload(bytes, version, src_port, dst_port)
  local n, u = #bytes, nil
  if version == 4 then
    if n < 28 then return nil end
    local b1, _, l1, l2, _, _, f1, f2, _, proto = byte(bytes, 1, 10)
    -- flags: MF (0x20) clear; fragment offset (13 bits) zero; DF may be set
    if b1 ~= 0x45 or l1 * 256 + l2 ~= n or f1 % 0x40 ~= 0 or f2 ~= 0 or proto ~= 17 then return nil end
    u = 21
  elseif version == 6 then
    if n < 48 then return nil end
    local b1, _, _, _, l1, l2, next_header = byte(bytes, 1, 7)
    if b1 < 0x60 or b1 >= 0x70 or l1 * 256 + l2 ~= n - 40 or next_header ~= 17 then return nil end
    u = 41
  else
    return nil
  end
  local p1, p2, q1, q2, l1, l2 = byte(bytes, u, u + 5)
  if p1 * 256 + p2 ~= src_port or q1 * 256 + q2 ~= dst_port or l1 * 256 + l2 ~= n - u + 1 then return nil end
  return sub(bytes, u + 8)
end

return M
