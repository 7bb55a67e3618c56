local agent = { name = "flaky" }

-- fails on attempts 1 and 2, succeeds on attempt 3
function agent.run(task, ctx)
  if task.attempt < 3 then
    error("flaky failure")
  end
  return { attempt = task.attempt }
end

return agent
