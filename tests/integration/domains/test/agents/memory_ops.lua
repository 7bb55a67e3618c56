-- test_memory.py: runs task.input.ops in order against the `memory` global and returns one entry per op,
-- {value = <what the call returned>, type = <math.type or type of it>}; with task.input.catch, an op that
-- raises gives {error = <the error: a string or {code, message, retryable}>} and the rest still run.
-- An op: {op = "get"|"set"|"incr"|"delete", key =, value =, by =, ttl =, domain =, extra =}.
local agent = { name = "memory_ops" }

local function call(op)
  local opts
  if op.ttl ~= nil or op.domain ~= nil then
    opts = { ttl = op.ttl, domain = op.domain }
  end
  if op.op == "get" then
    return memory.get(op.key, opts)
  elseif op.op == "set" then
    return memory.set(op.key, op.value, opts)
  elseif op.op == "incr" then
    return memory.incr(op.key, op.by, opts)
  elseif op.op == "delete" then
    if op.extra ~= nil then
      return memory.delete(op.key, op.extra)
    end
    return memory.delete(op.key)
  end
  error("unknown op " .. tostring(op.op))
end

function agent.run(task, ctx)
  local out = {}
  for i, op in ipairs(task.input.ops) do
    if task.input.catch then
      local ok, v = pcall(call, op)
      out[i] = ok and { value = v, type = math.type(v) or type(v) } or { error = v }
    else
      local v = call(op)
      out[i] = { value = v, type = math.type(v) or type(v) }
    end
  end
  return out
end

return agent
