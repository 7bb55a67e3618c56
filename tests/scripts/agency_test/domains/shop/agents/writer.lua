-- Asks the model, with the stock tool; returns the text and how many tool turns happened.
local agent = { name = "Writer", tools = { "stock" } }

function agent.run(task, ctx)
  local reply = llm.chat{ prompt = "Write about " .. task.input.topic, tools = ctx.tools }
  local again = task.input.twice and llm.chat{ prompt = "Again", json = true } or nil
  return { text = reply.text, provider = reply.provider, second = again and again.data or nil }
end

return agent
