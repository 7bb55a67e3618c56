local agent = { name = "escape_pcall_spin" }

-- the CPU budget must not be swallowed by pcall
function agent.run(task, ctx)
  local ok, err = pcall(function() while true do end end)
  return { escaped = true, err = tostring(err) }
end

return agent
