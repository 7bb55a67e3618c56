-- test_memory.py: sets task.input.set ({key = value}) in this domain's memory, then returns
-- {own = {key = value read without a domain}, test = {key = value read with {domain = "test"}}}
-- for every key in task.input.read.
local agent = { name = "notes" }

function agent.run(task, ctx)
  for k, v in pairs(task.input.set or {}) do
    memory.set(k, v)
  end
  local own, test = {}, {}
  for _, k in ipairs(task.input.read or {}) do
    own[k] = memory.get(k) or "absent"
    test[k] = memory.get(k, { domain = "test" }) or "absent"
  end
  return { own = own, test = test }
end

return agent
