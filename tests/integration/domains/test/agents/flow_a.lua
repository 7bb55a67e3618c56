-- First step of the test workflow: doubles n.
local agent = { name = "flow a" }
function agent.run(task, ctx)
  return { value = task.input.n * 2, ok = task.input.n > 0, workflow = ctx.workflow_id }
end
return agent
