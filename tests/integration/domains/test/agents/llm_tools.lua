-- Asks the model with the crm_lookup tool available; the engine runs the tool when the model asks.
local agent = { name = "LLM with tools", tools = { "crm_lookup" } }

function agent.run(task, ctx)
  local r = llm.chat{ prompt = task.input.prompt or "What plan is Acme on?", tools = ctx.tools,
                      provider = task.input.provider, ctx = { domain = ctx.domain } }
  return { text = r.text, provider = r.provider, usage = r.usage, replayed = r.replayed }
end

return agent
