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

M.COPY_WINDOW_MS = 50  -- a packet repeated within this many ms is a capture copy, not traffic
M.MAX_LOSS_RUN = 256  -- loss runs longer than this are counted as this long
M.GAPS_KEPT = 3  -- the longest silences kept per stream ...
M.GAP_MIN_MS = 100  -- ... of at least this long (shorter ones are ordinary packet spacing)
M.MAX_EVENTS = 256  -- telephone-events (DTMF digits) kept per stream
-- jitter buffer sizes (ms) a packet can arrive too late for: counted per size, for the E-model
M.LATE_BUFFERS = { 20, 40, 60, 80, 100, 150, 200, 300, 500 }
M.LATE_RESET_MS = 2000  -- a packet this much later than the fastest one: a timestamp jump, start again
M.TRANSIT_WINDOW_MS = 2000  -- the fastest transit is taken over this window and the one before
local COPY_WINDOW_MS, MAX_LOSS_RUN, GAPS_KEPT = M.COPY_WINDOW_MS, M.MAX_LOSS_RUN, M.GAPS_KEPT
local LATE_BUFFERS, LATE_FIRST, LATE_RESET_MS = M.LATE_BUFFERS, M.LATE_BUFFERS[1], M.LATE_RESET_MS
local TRANSIT_WINDOW_MS = M.TRANSIT_WINDOW_MS

-- map from a clock rate to its whole kHz (tshark divides by these), filled as rates are met
local KHZ = setmetatable({}, { __index = function(t, clock)
  local khz = floor(clock / 1000)
  rawset(t, clock, khz)
  return khz
end })

-- A fresh stream record.
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
    ts_ext = 0, ts_raw = 0, max_seq = 0, gap_max = 0, gap_start = 0, gap_frame = 0, last_time = 0,
    -- for the E-model: loss runs (map from run length to runs, nil until the first loss), the longest
    -- silences ({length, start, end frame}, longest first; gap_kept is the shortest of them), and
    -- packets too late for each of LATE_BUFFERS (against the fastest packet's transit time lately)
    loss_runs = nil, gaps = {}, gap_kept = M.GAP_MIN_MS, late = nil,
    transit_cur = nil, transit_prev = 0, transit_until = 0,
    -- packets per second: pps[i] counts second pps_start + i - 1 of the capture
    pps = {}, pps_start = 0, pps_n = 0, pps_over = 0, pps_lo = 0, pps_hi = 0, pps_i = 0,
  }
end

-- A packet's arrival against the reference one (its arrival time ref_time, ts_step timestamp units
-- before it), for a payload type with a clock: tshark's jitter (returned), and how late it is against
-- the fastest packet lately: beyond a jitter buffer, a packet is as good as lost (the fastest of this
-- window and the last: a drifting sender clock is followed, not accumulated).
local function arrival(st, t_ms, ref_time, ts_step, ext_ts, clock)
  local skew = t_ms - (ref_time + ts_step / KHZ[clock])
  if skew < 0 then skew = -skew end
  local jitter = (15 * st.jitter + skew) / 16
  st.jitter = jitter
  local transit = t_ms - ext_ts * 1000 / clock
  local fastest = st.transit_cur
  if fastest == nil or t_ms >= st.transit_until then
    st.transit_prev, st.transit_cur, st.transit_until = fastest or transit, transit, t_ms + TRANSIT_WINDOW_MS
    fastest = transit
  elseif transit < fastest then
    st.transit_cur, fastest = transit, transit
  end
  local prev = st.transit_prev
  if prev < fastest then fastest = prev end
  if transit - fastest > LATE_FIRST then M.note_late(st, transit - fastest, transit) end
  return jitter
end

-- Account one RTP packet: t_ms since the capture's first packet, header
-- fields, the clock rate of its payload type, its frame number.
--
-- Hot: no allocation in the common case (in order, no loss). A stream in a
-- steady state (see steady below) takes a short path for the next packet in
-- sequence of the same payload type, with the same result as the full
-- path below. Duplicates are told from late packets by remembering the
-- holes a jump forward leaves (the last DUP_WINDOW of them), not every
-- sequence number received.
function M.packet(st, t_ms, seq, ts, pt, marker, clock, frame)
  if seq == st.next_seq and pt == st.steady_pt and not marker and clock ~= 0 then
    -- the timestamp extended (as below); a packet behind in time takes the full path
    local diff = ts - st.ts_raw
    if diff > 2147483648 then diff = diff - 4294967296 elseif diff < -2147483648 then diff = diff + 4294967296 end
    if diff >= 0 then
      local packets = st.packets + 1
      st.packets = packets
      local pts = st.pts
      pts[pt] = pts[pt] + 1
      if t_ms < st.pps_hi and t_ms >= st.pps_lo then
        local pps, i = st.pps, st.pps_i
        pps[i] = pps[i] + 1
      else
        M.count_second(st, t_ms, false)
      end
      local ext_ts = st.ts_ext + diff
      st.ts_ext, st.ts_raw = ext_ts, ts
      st.ext_max = st.ext_max + 1
      if st.under and seq > st.start_seq then st.under = false end  -- past where it began, after a wrap
      -- the previous packet is tshark's reference (time, timestamp) too: the gap is its delta
      local last_time = st.last_time
      local gap = t_ms - last_time
      if gap > st.gap_max then st.gap_max, st.gap_start, st.gap_frame = gap, last_time, frame end
      if gap > st.gap_kept then M.keep_gap(st, gap, last_time, frame) end
      st.last_time, st.last_frame = t_ms, frame
      local jitter = arrival(st, t_ms, last_time, diff, ext_ts, clock)
      if gap > st.max_delta then st.max_delta = gap end
      if jitter > st.max_jitter then st.max_jitter = jitter end
      st.mean_jitter = (st.mean_jitter * (packets - 2) + jitter) / (packets - 1)
      st.stop_seq, st.next_seq = seq, seq + 1
      return
    end
  end
  if st.next_seq then M.unsteady(st) end
  local packets = st.packets
  local stop_seq = st.stop_seq
  if seq == stop_seq and packets > 0 and t_ms - st.last_time <= COPY_WINDOW_MS then
    -- the same packet captured twice (two interfaces, SPAN): not a packet, a duplicate or a loss
    st.copies = st.copies + 1
    if st.first_copy == nil then st.first_copy = frame end
    return
  end
  packets = packets + 1
  st.packets = packets
  if st.counted_only then  -- a written call's stream (state.lua): its late packets are counted, no more
    st.stop_seq, st.last_time = seq, t_ms
    return
  end
  local pts = st.pts
  local count = pts[pt]
  if count == nil then
    st.pt_order[#st.pt_order + 1] = pt
    pts[pt] = 1
    st.pt_first[pt] = frame
  else
    pts[pt] = count + 1
  end
  if marker then st.markers = st.markers + 1 end

  -- packets per second, for the RTP graph: the second the last packet fell in is a window [pps_lo,
  -- pps_hi) of ms, so most packets count without working out their second (count_second does)
  if t_ms < st.pps_hi and t_ms >= st.pps_lo then
    local pps, i = st.pps, st.pps_i
    pps[i] = pps[i] + 1
  else
    M.count_second(st, t_ms, packets == 1)
  end

  if packets == 1 then
    st.ts_ext, st.ts_raw, st.ext_max, st.max_seq, st.first_ext = ts, ts, seq, seq, seq
    st.first_time, st.first_frame, st.last_time, st.last_frame = t_ms, frame, t_ms, frame
    -- tshark's analysis starts here
    st.start_seq, st.stop_seq, st.seq_num = seq, seq, seq
    st.time, st.seq_ts, st.last_pt = t_ms, ts, pt
    M.steady(st)
    return
  end

  -- the timestamp extended to the value nearest the previous one (no modulo: Lua's is slow)
  local diff = ts - st.ts_raw
  if diff > 2147483648 then diff = diff - 4294967296 elseif diff < -2147483648 then diff = diff + 4294967296 end
  local ext_ts = st.ts_ext + diff
  st.ts_ext, st.ts_raw = ext_ts, ts

  -- own accounting: RFC 3550 A.1 extended sequence numbers (the one nearest the highest so far),
  -- duplicates, reordering, loss runs
  local step = seq - st.max_seq
  if step > 32768 then step = step - 65536 elseif step < -32768 then step = step + 65536 end
  local ext_max = st.ext_max
  if step == 1 then
    st.ext_max, st.max_seq = ext_max + 1, seq
  elseif step > 1 then
    M.note_jump(st, ext_max, ext_max + step)
    st.ext_max, st.max_seq = ext_max + step, seq
  else
    M.note_behind(st, ext_max, ext_max + step)
  end
  local last_time = st.last_time
  local gap = t_ms - last_time
  if gap > st.gap_max then st.gap_max, st.gap_start, st.gap_frame = gap, last_time, frame end
  if gap > st.gap_kept then M.keep_gap(st, gap, last_time, frame) end
  st.last_time, st.last_frame = t_ms, frame

  -- tshark's analysis (ui/tap-rtp-analysis.c of 4.0)
  local seq_ts, time, seq_num = st.seq_ts, st.time, st.seq_num
  local in_time = seq_ts <= ext_ts
  if in_time then
    local under = st.under
    if not under then
      if seq < st.start_seq or (seq == 0 and stop_seq == 65535) then st.cycles, st.under = st.cycles + 1, true end
    elseif seq > st.start_seq then
      st.under = false
    end
    if seq_num + 1 == seq or (seq_num == 65535 and seq == 0) then
      st.seq_num = seq
    elseif seq_num + 1 < seq or seq_num - seq > 0xFF00 then
      st.seq_num = seq
      st.seq_errors = st.seq_errors + 1
    elseif seq_num + 1 > seq then
      st.seq_errors = st.seq_errors + 1
    end
  elseif seq_num + 1 > seq then
    st.seq_errors = st.seq_errors + 1
  end
  local last_pt = st.last_pt
  if pt ~= last_pt then st.last_pt = pt end
  local jitter = st.jitter
  if clock ~= 0 then
    jitter = arrival(st, t_ms, time, ext_ts - seq_ts, ext_ts, clock)
  end
  -- "regular" packets: no marker, no comfort noise (or right after it), in timestamp order
  if in_time then
    if not marker and pt ~= 13 and pt ~= 19 and last_pt ~= 13 and last_pt ~= 19 then
      local delta = t_ms - time
      if delta > st.max_delta then st.max_delta = delta end
      if clock ~= 0 then
        if jitter > st.max_jitter then st.max_jitter = jitter end
        -- tshark divides by every packet before this one, regular or not
        st.mean_jitter = (st.mean_jitter * (packets - 2) + jitter) / (packets - 1)
      end
    end
    -- tshark 4.0 moves its reference arrival time on every in-order packet but
    -- keeps the last timestamp of a packet it could measure (not of a
    -- telephone-event); 4.2+ moves both (see docs/pdml-schema.md)
    st.time = t_ms
    if clock ~= 0 then st.seq_ts = ext_ts end
  end
  st.stop_seq = seq
  M.steady(st)
end

-- Whether the stream is in a steady state, and if so the sequence number and
-- payload type its short path takes: every reference tshark's analysis and
-- ours keep is the last packet (its sequence number, arrival time and
-- timestamp), not below the first sequence number unless wrapped, and the
-- payload type one whose packets are "regular" (not comfort noise). The
-- short path keeps max_seq, seq_num, time and seq_ts implied (equal to
-- stop_seq, last_time, ts_ext); unsteady writes them out before the full path.
function M.steady(st)
  local stop_seq, last_pt = st.stop_seq, st.last_pt
  if (st.under or stop_seq >= st.start_seq) and st.seq_num == stop_seq and st.max_seq == stop_seq
     and st.time == st.last_time and st.seq_ts == st.ts_ext and last_pt ~= 13 and last_pt ~= 19 then
    st.next_seq, st.steady_pt = stop_seq + 1, last_pt
  else
    st.next_seq = nil
  end
end

-- Leave the steady state: the references the short path kept implied, written out.
function M.unsteady(st)
  local stop_seq = st.stop_seq
  st.max_seq, st.seq_num, st.time, st.seq_ts = stop_seq, stop_seq, st.last_time, st.ts_ext
  st.next_seq = nil
end

-- A jump forward from extended sequence number ext_max to ext: its loss run
-- counted, its holes remembered (the last DUP_WINDOW), to tell late packets
-- from duplicates.
function M.note_jump(st, ext_max, ext)
  local run = ext - ext_max - 1
  if run > MAX_LOSS_RUN then run = MAX_LOSS_RUN end
  local runs = st.loss_runs
  if runs == nil then
    runs = {}
    st.loss_runs = runs
  end
  runs[run] = (runs[run] or 0) + 1
  local missing = st.missing
  if missing == nil then
    missing = {}
    st.missing = missing
  end
  local from = ext - DUP_WINDOW + 1
  if from <= ext_max then from = ext_max + 1 end
  for hole = from, ext - 1 do missing[hole % DUP_WINDOW] = hole end
end

-- A packet at or behind the highest sequence number so far: a late one
-- filling its hole, a duplicate, or one older than the window.
function M.note_behind(st, ext_max, ext)
  local missing = st.missing
  local slot = ext % DUP_WINDOW
  if missing and missing[slot] == ext then
    missing[slot] = nil
    st.out_of_order = st.out_of_order + 1
  elseif ext > ext_max - DUP_WINDOW and ext >= st.first_ext then
    st.duplicates = st.duplicates + 1
  else
    st.out_of_order = st.out_of_order + 1
    if ext < st.first_ext then st.first_ext = ext end
  end
end

-- Count a packet in its second (bounded by MAX_PPS_SECONDS; others are
-- counted apart) and make that second the window the next packets are
-- counted in directly.
function M.count_second(st, t_ms, first)
  local pps = st.pps
  if first then st.pps_start = floor(t_ms / 1000) end
  local second = floor(t_ms / 1000) - st.pps_start + 1
  local in_second = pps[second]
  if in_second then
    pps[second] = in_second + 1
  elseif second >= 1 and second <= MAX_PPS_SECONDS then
    pps[second] = 1
    if second > st.pps_n then st.pps_n = second end
  else
    st.pps_over = st.pps_over + 1
    return
  end
  local lo = (st.pps_start + second - 1) * 1000
  st.pps_lo, st.pps_hi, st.pps_i = lo, lo + 1000, second
end

-- Keep a silence among the stream's GAPS_KEPT longest (rare: called only when
-- it beats the shortest kept one).
function M.keep_gap(st, length, start, frame)
  local gaps = st.gaps
  local at = #gaps + 1
  for i = 1, #gaps do
    if length > gaps[i][1] then at = i; break end
  end
  table.insert(gaps, at, { length, start, frame })
  if #gaps > GAPS_KEPT then gaps[#gaps] = nil end
  st.gap_kept = #gaps < GAPS_KEPT and M.GAP_MIN_MS or gaps[#gaps][1]
end

-- Count a packet `late` ms behind the fastest one against each jitter buffer
-- it misses (rare: only packets more than LATE_BUFFERS[1] ms late). A packet
-- seconds late is a timestamp jump: the fastest transit starts again from it.
function M.note_late(st, late, transit)
  if late > LATE_RESET_MS then
    st.transit_prev, st.transit_cur = transit, transit
    return
  end
  local counts = st.late
  if counts == nil then
    counts = {}
    for i = 1, #LATE_BUFFERS do counts[i] = 0 end
    st.late = counts
  end
  for i = 1, #LATE_BUFFERS do
    if late <= LATE_BUFFERS[i] then break end
    counts[i] = counts[i] + 1
  end
end

-- map from RFC 4733 event code to the key it stands for
-- (RFC 4733 DTMF; 32-36 are RFC 4734's fax and modem tones: answer tone, its phase reversals, calling tone)
local EVENT_KEYS = { [10] = "*", [11] = "#", [12] = "A", [13] = "B", [14] = "C", [15] = "D", [16] = "flash",
                     [32] = "ANS", [33] = "/ANS", [34] = "ANSam", [35] = "/ANSam", [36] = "CNG" }
function M.event_key(event)
  return EVENT_KEYS[event] or (event <= 9 and string.format("%d", event)) or string.format("event %d", event)
end

-- The 4 telephone-event bytes of an RTP packet (raw: its bytes from the RTP
-- header on): event, flags (end bit and volume), duration; nil when short.
function M.event_payload(raw)
  local b1 = raw:byte(1)
  if b1 == nil then return nil end
  local at = 13 + 4 * (b1 % 16)  -- after the CSRC list
  if floor(b1 / 16) % 2 == 1 then  -- a header extension: 4 bytes plus its length in words
    local l1, l2 = raw:byte(at + 2, at + 3)
    if l2 == nil then return nil end
    at = at + 4 + 4 * (l1 * 256 + l2)
  end
  local e, f, d1, d2 = raw:byte(at, at + 3)
  if d2 == nil then return nil end
  return e, f, d1 * 256 + d2
end

-- Account one RFC 4733 telephone-event packet (its 4 payload bytes read into
-- event, flags, duration in units of the event clock `rate`): packets of one
-- event share its RTP timestamp; the end bit (flags >= 128) is sent three
-- times and counted once.
function M.event(st, pt, event, flags, duration, rate, ts, t_ms, frame)
  local events = st.events
  if events == nil then
    events = {}
    st.events, st.events_dropped = events, 0
  end
  local last = events[#events]
  if last == nil or last.ts ~= ts or last.pt ~= pt then
    if #events >= M.MAX_EVENTS then
      st.events_dropped = st.events_dropped + 1
      return
    end
    last = { ts = ts, pt = pt, event = event, start = t_ms, frame = frame, duration_ms = 0, ended = false }
    events[#events + 1] = last
  end
  if not last.ended then
    last.duration_ms = duration * 1000 / rate
    if flags >= 128 then last.ended, last.end_frame = true, frame end
  end
end

-- Packets expected and lost, as tshark's -z rtp,streams counts them.
function M.expected(st)
  return st.stop_seq + st.cycles * 65536 - st.start_seq + 1
end

return M
