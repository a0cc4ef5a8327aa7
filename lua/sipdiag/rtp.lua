--[[
sipdiag.rtp: one RTP stream's accounting, packet by packet (the hot path):
loss, duplicates, reordering, gaps, packets per second, and jitter as
tshark's own RTP analysis computes it, so that its -z rtp,streams agrees.

Pure: no Wireshark API, no globals, nothing registered; loading it only
returns the table below.
]]

local M = {}

-- Clock rates of the static payload types (RFC 3551), as tshark uses them.
local STATIC_CLOCK = {
  [0] = 8000, [1] = 8000, [2] = 8000, [3] = 8000, [4] = 8000, [5] = 8000, [6] = 16000, [7] = 8000,
  [8] = 8000, [9] = 8000, [10] = 44100, [11] = 44100, [12] = 8000, [13] = 8000, [14] = 90000,
  [15] = 8000, [16] = 11025, [17] = 22050, [18] = 8000, [19] = 8000, [25] = 90000, [26] = 90000,
  [28] = 90000, [31] = 90000, [32] = 90000, [33] = 90000, [34] = 90000,
}
M.STATIC_CLOCK = STATIC_CLOCK
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
  if pt < 96 then return STATIC_CLOCK[pt] or 0 end
  if name == nil then return 0 end
  name = name:lower()
  if name == "telephone-event" then return 0 end
  return rate or DYNAMIC_CLOCK[name] or 0
end

M.DUP_WINDOW = 1024         -- how far back (in sequence numbers) a duplicate is recognised
M.MAX_PPS_SECONDS = 14400   -- per-second packet counts kept per stream (4 hours)
local DUP_WINDOW, MAX_PPS_SECONDS = M.DUP_WINDOW, M.MAX_PPS_SECONDS
local floor = math.floor

-- The per-second counts as "50,50,0,12": every second from pps_start to the
-- last one with a packet, zeros included.
function M.pps_text(st)
  local pps, out = st.pps, {}
  for i = 1, st.pps_n do out[i] = string.format("%d", pps[i] or 0) end
  return table.concat(out, ",")
end

-- A fresh stream record.
M.COPY_WINDOW_MS = 50  -- a packet repeated within this many ms is a capture copy, not traffic
local COPY_WINDOW_MS = M.COPY_WINDOW_MS

function M.new_stream(ssrc)
  return {
    ssrc = ssrc, packets = 0, pts = {}, pt_order = {}, pt_first = {}, markers = 0,
    -- tshark's rtp analysis (ui/tap-rtp-analysis.c): the state its -z rtp,streams reports from
    start_seq = 0, stop_seq = 0, seq_num = 0, cycles = 0, under = false, seq_errors = 0,
    seq_ts = 0, time = 0, jitter = 0, max_jitter = 0, mean_jitter = 0, max_delta = 0, last_pt = -1,
    -- our own: RFC 3550 A.1 extended sequence numbers, duplicates, reordering, gaps
    ext_max = 0, first_ext = 0, missing = nil, duplicates = 0, out_of_order = 0,
    -- copies of the previous packet captured twice (within COPY_WINDOW_MS): set aside, not counted
    copies = 0, first_copy = nil,
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
function M.packet(st, t_ms, seq, ts, pt, marker, clock, frame)
  local packets = st.packets
  if seq == st.stop_seq and packets > 0 and t_ms - st.last_time <= COPY_WINDOW_MS then
    -- the same packet captured twice (two interfaces, SPAN): not a packet, a duplicate or a loss
    st.copies = st.copies + 1
    if st.first_copy == nil then st.first_copy = frame end
    return
  end
  st.packets = packets + 1
  local count = st.pts[pt]
  if count == nil then
    st.pt_order[#st.pt_order + 1] = pt
    st.pts[pt] = 1
    st.pt_first[pt] = frame
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
    local skew = t_ms - (time + (ext_ts - seq_ts) / floor(clock / 1000))
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

return M
