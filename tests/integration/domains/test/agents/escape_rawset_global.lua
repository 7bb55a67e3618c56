local agent = { name = "escape_rawset_global" }

function agent.run(task, ctx)
  -- rawset is removed: it would bypass the strict-globals guard
  rawset(_G, "escape_rawset_pwned", true)
  return { escaped = true }
end

return agent
