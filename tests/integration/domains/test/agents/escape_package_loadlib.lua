local agent = { name = "escape_package_loadlib" }

function agent.run(task, ctx)
  -- package is not a sandbox global: reading it must raise
  local f = package.loadlib("libc.so.6", "system")
  if f then
    return { escaped = true }
  end
  error("package.loadlib returned nil")
end

return agent
