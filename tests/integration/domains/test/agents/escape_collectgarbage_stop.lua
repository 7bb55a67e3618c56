local agent = { name = "escape_collectgarbage_stop" }

function agent.run(task, ctx)
  -- collectgarbage is removed from the sandbox
  collectgarbage("stop")
  return { escaped = true }
end

return agent
