local agent = { name = "escape_io_open" }

function agent.run(task, ctx)
  -- io is not a sandbox global: reading it must raise
  local f = io.open("/etc/hostname", "r")
  if f then
    return { escaped = true }
  end
  error("io.open returned nil")
end

return agent
