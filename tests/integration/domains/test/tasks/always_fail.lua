return { agent = "always_fail", timeout = 10, max_attempts = 2, retry = { base_ms = 50, max_ms = 100 } }
