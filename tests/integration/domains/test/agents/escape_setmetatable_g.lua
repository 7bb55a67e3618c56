local agent = { name = "escape_setmetatable_g" }

function agent.run(task, ctx)
  -- removing the globals guard would let scripts define globals
  setmetatable(_G, nil)
  escape_unguarded_pwned = true
  return { escaped = true }
end

return agent
