local agent = { name = "noop" }

function agent.run(task, ctx)
  return { ok = true }
end

return agent
