-- Checks in named groups, each declared up front with the number of checks
-- it runs (the pattern of Wireshark's test/lua/testlib.lua): a group that
-- runs fewer or more checks than declared fails, so a check skipped by an
-- early return or an error is a failure, not silence.
--
--   local testlib = dofile("tests/lua/testlib.lua")
--   local t = testlib.plan({ { "text", 2 }, { "sip", 40 } })
--   t:group("text", function()
--     t:eq("trimmed", text.trim(" a "), "a")
--     t:ok("bounded", #text.bounded(long) < 1100)
--   end)
--   t:finish()  -- one line per group, then ALL GROUPS OK (exit 0) or SOME GROUPS FAILED (exit 1)

local testlib = {}
local Plan = {}
Plan.__index = Plan

-- groups: a list of { name, expected number of checks }, in the order they are reported.
function testlib.plan(groups)
  local plan = setmetatable({ by_name = {}, order = {}, current = nil }, Plan)
  for _, declared in ipairs(groups) do
    local name, expected = declared[1], declared[2]
    assert(plan.by_name[name] == nil, "group declared twice: " .. name)
    plan.by_name[name] = { name = name, expected = expected, ran = 0, failed = 0, errors = {} }
    plan.order[#plan.order + 1] = name
  end
  return plan
end

-- Run a declared group's checks; an error ends the group and fails it.
function Plan:group(name, body)
  local group = self.by_name[name]
  assert(group, "undeclared group: " .. tostring(name))
  self.current = group
  local ok, err = pcall(body)
  if not ok then
    group.errors[#group.errors + 1] = tostring(err)
    print(string.format("ERROR %s: %s", name, tostring(err)))
  end
  self.current = nil
end

function Plan:ok(name, passed, detail)
  local group = self.current
  assert(group, "a check outside any group: " .. tostring(name))
  group.ran = group.ran + 1
  if not passed then
    group.failed = group.failed + 1
    print(string.format("FAIL %s / %s%s", group.name, name, detail and (": " .. detail) or ""))
  end
end

function Plan:eq(name, got, want)
  self:ok(name, got == want, string.format("got %q, want %q", tostring(got), tostring(want)))
end

-- Report every group, then exit: 0 when each ran exactly its declared checks and all passed.
function Plan:finish()
  local all_ok = true
  for _, name in ipairs(self.order) do
    local g = self.by_name[name]
    local ok = g.ran == g.expected and g.failed == 0 and #g.errors == 0
    all_ok = all_ok and ok
    print(string.format("GROUP %s: %s, %d of %d checks ran, %d failed, %d errors", name, ok and "ok" or "FAILED",
                        g.ran, g.expected, g.failed, #g.errors))
  end
  print(string.format("%s (%s)", all_ok and "ALL GROUPS OK" or "SOME GROUPS FAILED", _VERSION))
  os.exit(all_ok and 0 or 1)
end

return testlib
