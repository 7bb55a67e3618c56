local agent = { name = "escape_string_metatable" }

function agent.run(task, ctx)
  -- poisoning the shared string metatable would reach every other script
  local mt = getmetatable("")
  mt.__index.upper = function() return "pwned" end
  if ("x"):upper() == "pwned" then
    return { escaped = true }
  end
  error("string metatable mutation had no effect")
end

return agent
