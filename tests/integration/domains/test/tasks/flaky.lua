return { agent = "flaky", timeout = 10, max_attempts = 5, retry = { base_ms = 50, max_ms = 200 } }
