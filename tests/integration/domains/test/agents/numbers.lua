local agent = { name = "numbers" }

-- numbers a result must carry exactly (all fit a double exactly)
function agent.run(task, ctx)
  return {
    small = 42,
    neg = -7,
    fifteen_digits = 123456789012345,
    max_safe_int = 9007199254740991,
    seventeen_sig = 1234567.891234567,
    tenth = 0.1,
  }
end

return agent
