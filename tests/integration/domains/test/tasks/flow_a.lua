return { agent = "flow_a", max_attempts = 2,
         input = { type = "object", required = { "n" }, properties = { n = { type = "integer" } } } }
