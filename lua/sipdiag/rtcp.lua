--[[
sipdiag.rtcp: RTCP packets (RFC 3550 SR and RR, RFC 3611 XR VoIP metrics)
read from their bytes, and what the reports say about each stream: loss,
jitter, and the round trip from LSR/DLSR.

Pure: no Wireshark API, no globals, nothing registered; loading it only
returns the table below.
]]

local M = {}

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
function M.parse(raw)
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

M.MAX_SR_REMEMBERED = 64  -- sender reports remembered per SSRC for the round trip
local MAX_SR_REMEMBERED = M.MAX_SR_REMEMBERED

-- Account one parsed RTCP packet seen at t (s): sender reports are
-- remembered so a later report block's LSR/DLSR gives the round trip, as
-- tshark's rtcp.roundtrip-delay does (capture times only, no clock sync).
function M.add(state, packet, t, frame)
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
    if block.fraction > about.fraction_max then about.fraction_max, about.fraction_frame = block.fraction, frame end
    if about.reports == 1 then about.first_cum_lost, about.first_ext_seq = block.cum_lost, block.ext_seq end
    about.cum_lost, about.last_ext_seq = block.cum_lost, block.ext_seq
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

return M
