local agent = { name = "escape_global_assign" }

function agent.run(task, ctx)
  -- assigning an undeclared global must raise
  escape_global_pwned = true
  return { escaped = true }
end

return agent
