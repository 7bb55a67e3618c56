local agent = { name = "escape_coroutine_hog" }

-- the memory cap must also count memory allocated inside a coroutine; stops at 64 MiB (8x the cap)
function agent.run(task, ctx)
  local t = {}
  local co = coroutine.wrap(function()
    for i = 1, 65536 do
      t[i] = string.rep("x", 1024) .. i
    end
  end)
  co()
  return { escaped = true, held = #t }
end

return agent
