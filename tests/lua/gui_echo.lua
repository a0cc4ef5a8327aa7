-- A test-only Wireshark plugin (never installed by sipdiag): tests/test_wireshark_gui.py
-- copies it beside the installed tap. It wraps TextWindow so that what a
-- window is given to show is also written to the file $SIPDIAG_GUI_ECHO
-- names, where the test reads it. The tap looks TextWindow up when it opens
-- a window, so the order in which the plugins load does not matter.

local path = os.getenv("SIPDIAG_GUI_ECHO")
if path == nil or not gui_enabled() then return end

local real = _G.TextWindow

local function echo(text)
  local fh = io.open(path, "wb")
  if fh then
    fh:write(text)
    fh:close()
  end
end

-- A window that behaves as the real one and echoes what it is set to.
local function echoing(window)
  return setmetatable({}, { __index = function(_, key)
    if key == "set" then
      return function(_, text)
        window:set(text)
        echo(text)
      end
    end
    local value = window[key]
    if type(value) == "function" then
      return function(_, ...) return value(window, ...) end
    end
    return value
  end })
end

_G.TextWindow = setmetatable({ new = function(...) return echoing(real.new(...)) end }, { __index = real })
