return { agent = "flow_b", max_attempts = 1,
         input = { type = "object", required = { "n" },
                   properties = { n = { type = "integer", minimum = 1 }, from = { type = "integer" },
                                  fail = { type = "boolean" } } } }
