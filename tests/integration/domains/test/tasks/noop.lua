return { agent = "noop", timeout = 10, max_attempts = 3 }
