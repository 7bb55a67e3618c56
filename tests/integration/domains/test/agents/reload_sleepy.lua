local agent = { name = "reload_sleepy" }

-- the hot-reload test rewrites "v1" while some of these are asleep
function agent.run(task, ctx)
  sleep(task.input.seconds or 1)
  return { version = "v1" }
end

return agent
