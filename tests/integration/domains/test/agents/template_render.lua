-- test_memory.py (templates): renders task.input.name with task.input.vars, through the global and ctx.
local agent = { name = "template_render" }

function agent.run(task, ctx)
  local text = template.render(task.input.name, task.input.vars)
  return { text = text, via_ctx = ctx.template(task.input.name, task.input.vars) == text }
end

return agent
