local agent = { name = "escape_coroutine_spin" }

-- the CPU budget must also count instructions run inside a coroutine the script creates
function agent.run(task, ctx)
  local co = coroutine.wrap(function() while true do end end)
  co()
  return { escaped = true }
end

return agent
