local agent = { name = "hog" }

-- grows a table of distinct strings until the memory cap stops it
function agent.run(task, ctx)
  local t = {}
  local i = 0
  while true do
    i = i + 1
    t[i] = string.rep("x", 1024) .. i
  end
end

return agent
