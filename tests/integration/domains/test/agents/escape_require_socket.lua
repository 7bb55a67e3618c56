local agent = { name = "escape_require_socket" }

function agent.run(task, ctx)
  -- require is not a sandbox global: reading it must raise
  local socket = require("socket")
  if socket then
    return { escaped = true }
  end
  error("require returned nil")
end

return agent
