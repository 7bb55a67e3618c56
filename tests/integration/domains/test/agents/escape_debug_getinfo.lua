local agent = { name = "escape_debug_getinfo" }

function agent.run(task, ctx)
  -- debug is not a sandbox global: reading it must raise
  local info = debug.getinfo(1)
  if info then
    return { escaped = true }
  end
  error("debug.getinfo returned nil")
end

return agent
