local agent = { name = "escape_load_binary" }

function agent.run(task, ctx)
  -- a precompiled chunk for `return 42`; the sandbox loads text only
  local chunk = "\027\076\117\097\084\000\025\147\013\010\026\010\004\008\008\120\086\000\000\000\000\000\000\000\000\000\000\000\040\119\064\001\128\128\128\000\001\002\132\081\000\000\000\001\128\020\128\070\000\002\001\070\000\001\001\128\129\001\000\000\128\128\128\128\128"
  local f, err = load(chunk, "=escape", "b")
  if f then
    return { escaped = true, value = f() }
  end
  error("binary chunk refused: " .. tostring(err))
end

return agent
