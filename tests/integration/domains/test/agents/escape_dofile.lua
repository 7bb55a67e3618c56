local agent = { name = "escape_dofile" }

function agent.run(task, ctx)
  -- dofile is removed from the sandbox
  local r = dofile("/etc/hostname")
  return { escaped = true }
end

return agent
