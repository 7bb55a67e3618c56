local agent = { name = "escape_pattern_spin" }

-- a backtracking pattern: minutes of CPU inside one C call (string.find), where no
-- instruction hook fires (about 2.5 minutes with stock Lua 5.4 on a 2 GHz core)
function agent.run(task, ctx)
  local s = string.rep("a", 200)
  local r = string.find(s, ".-.-.-.-b")
  return { escaped = true }
end

return agent
