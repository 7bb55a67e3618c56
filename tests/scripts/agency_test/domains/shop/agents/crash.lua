local agent = {}

function agent.run(task, ctx)
  local depth = task.input.depth or 0
  error("crashed at depth " .. depth)
end

return agent
