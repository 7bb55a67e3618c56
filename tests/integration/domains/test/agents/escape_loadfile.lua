local agent = { name = "escape_loadfile" }

function agent.run(task, ctx)
  -- loadfile is removed from the sandbox
  local f = loadfile("/etc/hostname")
  return { escaped = true }
end

return agent
