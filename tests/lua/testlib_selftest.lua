-- tests/lua/testlib.lua must be able to fail: this plan is wrong on purpose
-- (tests/test_lua.py runs it and expects exactly these verdicts).
--   right      declares 2 checks and runs 2 that pass          -> ok
--   short      declares 3 checks and runs 2 (one skipped)       -> FAILED
--   extra      declares 1 check and runs 2                      -> FAILED
--   failing    declares 1 check that fails                      -> FAILED
--   erroring   declares 2 checks, errors after the first        -> FAILED
--   never      declared, never run                              -> FAILED

local testlib = dofile((arg[0]:match("^(.*[/\\])") or "./") .. "testlib.lua")
local t = testlib.plan({ { "right", 2 }, { "short", 3 }, { "extra", 1 }, { "failing", 1 }, { "erroring", 2 },
                         { "never", 1 } })

t:group("right", function()
  t:eq("one", 1, 1)
  t:ok("two", true)
end)
t:group("short", function()
  t:eq("one", 1, 1)
  t:eq("two", 2, 2)
  local skip = true
  if skip then return end  -- a check skipped by an early return
  t:eq("three", 3, 3)
end)
t:group("extra", function()
  t:eq("one", 1, 1)
  t:eq("two", 2, 2)
end)
t:group("failing", function()
  t:eq("one", 1, 2)
end)
t:group("erroring", function()
  t:eq("one", 1, 1)
  local missing = nil
  t:eq("two", missing.field, 2)
end)
t:finish()
