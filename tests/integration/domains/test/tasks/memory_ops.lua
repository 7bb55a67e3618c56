return { agent = "memory_ops", timeout = 10, max_attempts = 1 }
