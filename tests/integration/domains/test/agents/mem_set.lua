local agent = { name = "mem_set" }

function agent.run(task, ctx)
  memory.set(task.input.key, task.input.value)
  return { ok = true }
end

return agent
