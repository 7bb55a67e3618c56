return { agent = "approver", max_attempts = 1,
         input = { type = "object", required = { "amount" }, properties = { amount = { type = "number" } } } }
