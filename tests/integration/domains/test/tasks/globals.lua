return { agent = "globals", timeout = 10, max_attempts = 1 }
