local agent = { name = "always_fail" }

function agent.run(task, ctx)
  error("always fails")
end

return agent
