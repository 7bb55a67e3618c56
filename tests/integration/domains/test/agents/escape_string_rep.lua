local agent = { name = "escape_string_rep" }

-- one C call asking for 256 MiB (32x the cap)
function agent.run(task, ctx)
  local s = string.rep("x", 256 * 1024 * 1024)
  return { escaped = true, len = #s }
end

return agent
