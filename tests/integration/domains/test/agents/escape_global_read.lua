local agent = { name = "escape_global_read" }

function agent.run(task, ctx)
  -- reading an undeclared global must raise, not return nil
  local v = some_undeclared_global
  return { escaped = true }
end

return agent
