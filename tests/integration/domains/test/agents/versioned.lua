local agent = { name = "versioned" }

function agent.run(task, ctx)
  return { version = "v1" }
end

return agent
