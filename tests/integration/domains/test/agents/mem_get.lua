local agent = { name = "mem_get" }

function agent.run(task, ctx)
  local v = memory.get(task.input.key)
  if task.input.delete then
    memory.delete(task.input.key)
  end
  return { found = v ~= nil, value = v }
end

return agent
