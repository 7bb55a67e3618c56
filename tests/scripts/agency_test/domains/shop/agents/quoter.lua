-- Prices an order: a rule for the total, the model for a one-line note, memory for a counter.
local PRICES = { widget = 2.5, gadget = 10 }

local agent = { name = "Quoter", tools = { "stock" } }

function agent.run(task, ctx)
  local price = PRICES[task.input.item]
  if price == nil then
    error("unknown item " .. task.input.item)
  end
  local n = memory.incr("quotes")
  local reply = llm.chat{
    prompt = template.render("note", { item = task.input.item, qty = task.input.qty }),
    schema = { type = "object", required = { "note" }, properties = { note = { type = "string" } } },
  }
  return { item = task.input.item, qty = task.input.qty, total = price * task.input.qty,
           note = reply.data.note, provider = reply.provider, quotes = n,
           workflow_id = ctx.workflow_id, attempt = task.attempt }
end

return agent
