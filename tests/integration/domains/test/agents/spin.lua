local agent = { name = "spin" }

function agent.run(task, ctx)
  while true do end
end

return agent
