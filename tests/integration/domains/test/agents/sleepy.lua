local agent = { name = "sleepy" }

function agent.run(task, ctx)
  sleep(task.input.seconds or 0.2)
  return { slept = true }
end

return agent
