-- Calls the model once (or as the input says) and returns what llm.chat gave back.
local agent = { name = "LLM echo" }

function agent.run(task, ctx)
  local input = task.input
  local replies = {}
  for i = 1, input.calls or 1 do
    local r = llm.chat{ system = input.system, prompt = (input.prompt or "hello") .. (i > 1 and (" #" .. i) or ""),
                        provider = input.provider, model = input.model, json = input.json, schema = input.schema,
                        timeout = input.timeout }
    replies[#replies + 1] = { text = r.text, data = r.data, provider = r.provider, model = r.model,
                              replayed = input.show_replayed and r.replayed or nil, usage = r.usage, cost = r.cost }
  end
  if input.fail_first and task.attempt == 1 then
    error("failing attempt 1 on purpose, after the calls")
  end
  return { replies = replies }
end

return agent
