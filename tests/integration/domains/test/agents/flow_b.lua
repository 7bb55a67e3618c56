-- Second step of the test workflow: reports what it got.
local agent = { name = "flow b" }
function agent.run(task, ctx)
  if task.input.fail then error("flow_b failing on purpose") end
  return { done = task.input.n, from = task.input.from }
end
return agent
