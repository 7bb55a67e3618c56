-- Passing tests: task.approve{} inside run_agent.

test("below the threshold nobody is asked", function()
  eq(run_agent("boss", { amount = 50 }).status, "auto")
end)

test("without opts.approve the request is approved at once", function()
  eq(run_agent("boss", { amount = 500 }), { status = "approved", auto = true,
     comment = "auto-approved: not running as a task (agency run)" })
end)

test("opts.approve gives the decision", function()
  local r = run_agent("boss", { amount = 500 }, { approve = { approved = false, comment = "too much" } })
  eq(r, { status = "rejected", comment = "too much", auto = false })
end)

test("opts.approve as a function sees the request", function()
  local seen
  local r = run_agent("boss", { amount = 500 }, { approve = function(req)
    seen = req
    return req.data.amount < 1000
  end })
  eq(r.status, "approved")
  eq(seen.reason, "amount 500")
  eq(seen.data, { amount = 500 })
end)
