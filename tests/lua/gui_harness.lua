-- Runs a Tools-menu action of lua/sipdiag.lua under tshark, with small
-- stand-ins for Wireshark's GUI functions, and prints what the GUI would show.
--
--   tshark -q -r CAPTURE -X lua_script:tests/lua/gui_harness.lua \
--          -X lua_script1:lua/sipdiag.lua -X "lua_script1:Call checklist" -X lua_script1:ANSWER
--
-- tshark cannot retap. The action runs in a coroutine: the stand-in for
-- retap_packets suspends it once the action's listeners are registered,
-- tshark's own pass feeds them, and the action resumes (its retap done) at
-- the end of that pass. The tap itself has no hook for this.

local plugin, action, answer = ...
local menus, windows = {}, {}
local state = { retaps = 0, filter = nil, applied = false, dialogs = {} }

-- Wireshark 4.0 gives each script its own globals: the stand-ins go into the
-- shared table, which the script loaded by dofile below reads.
local G = _G
G.gui_enabled = function() return true end
G.register_menu = function(name, callback, group) menus[name] = callback end
G.retap_packets = function()
  state.retaps = state.retaps + 1
  coroutine.yield()  -- resumed when tshark's pass is over
end
G.set_filter = function(f) state.filter = f end
G.apply_filter = function() state.applied = true end
G.new_dialog = function(title, callback, ...)
  state.dialogs[#state.dialogs + 1] = table.concat({ title, ... }, " | ")
  callback(answer)
end
G.TextWindow = {
  new = function(title)
    local window = { title = title, text = "" }
    function window:set(text) self.text = text end
    function window:append(text) self.text = self.text .. text end
    windows[#windows + 1] = window
    return window
  end,
}

dofile(plugin)
local run = coroutine.create(menus["SIP Diagnostics/" .. action])
local ok, err = coroutine.resume(run)
if not ok then error(err) end

local done = Listener.new("frame")
function done.draw()
  if coroutine.status(run) == "suspended" then
    ok, err = coroutine.resume(run)
    if not ok then print("ACTION ERROR: " .. tostring(err)) end
  end
  local names = {}
  for name in pairs(menus) do names[#names + 1] = name end
  table.sort(names)
  print("MENUS: " .. table.concat(names, "; "))
  print("RETAPS: " .. state.retaps)
  print("DIALOGS: " .. table.concat(state.dialogs, "; "))
  print("FILTER: " .. tostring(state.filter) .. " APPLIED: " .. tostring(state.applied))
  for _, window in ipairs(windows) do
    print("WINDOW: " .. window.title)
    print(window.text)
  end
end
