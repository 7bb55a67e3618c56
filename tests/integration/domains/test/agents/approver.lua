-- Asks a model, then a human when the amount is large; returns the decision.
local agent = { name = "approver" }
function agent.run(task, ctx)
  local r = llm.chat{ prompt = "Summarise a deal of " .. task.input.amount }
  if task.input.amount > 100 then
    local d = task.approve{ reason = "deal above 100", data = { amount = task.input.amount } }
    return { summary = r.text, approved = d.approved, comment = d.comment, decision = d.decision,
             auto = d.auto, replayed = r.replayed }
  end
  return { summary = r.text, approved = true, replayed = r.replayed }
end
return agent
