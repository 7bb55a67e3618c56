return { agent = "versioned", timeout = 30, max_attempts = 3, retry = { base_ms = 50, max_ms = 200 } }
