-- bench/heap.lua: loaded beside the tap by bench/run.py (never by sipdiag) to
-- sample the Lua heap that every script of this tshark shares, the tap's
-- included: collectgarbage("count") every SAMPLE frames; the peak and the
-- heap at the end go to stderr as one line: "lua heap peak KiB end KiB".
local SAMPLE = 1000
local listener = Listener.new("frame")
local frames, peak = 0, 0
function listener.packet()
  frames = frames + 1
  if frames % SAMPLE == 0 then
    local count = collectgarbage("count")
    if count > peak then peak = count end
  end
end
function listener.draw()
  local count = collectgarbage("count")
  if count > peak then peak = count end
  io.stderr:write(string.format("lua heap peak %.0f KiB end %.0f KiB\n", peak, count))
end
