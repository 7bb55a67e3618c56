local agent = { name = "escape_string_dump" }

function agent.run(task, ctx)
  -- string.dump is removed from the sandbox's string table
  local bytes = string.dump(function() return 1 end)
  if bytes then
    return { escaped = true }
  end
  error("string.dump returned nil")
end

return agent
