local agent = { name = "escape_os_execute" }

function agent.run(task, ctx)
  -- os is not a sandbox global: reading it must raise
  local ok = os.execute("touch " .. task.input.marker)
  if ok then
    return { escaped = true }
  end
  error("os.execute returned " .. tostring(ok))
end

return agent
