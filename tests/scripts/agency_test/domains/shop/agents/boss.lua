-- Asks a human when the amount is large.
local approvals = task

local agent = { name = "Boss" }

function agent.run(task, ctx)
  if task.input.amount <= 100 then
    return { status = "auto" }
  end
  local d = approvals.approve{ reason = "amount " .. task.input.amount, data = { amount = task.input.amount } }
  return { status = d.approved and "approved" or "rejected", comment = d.comment, auto = d.auto or false }
end

return agent
