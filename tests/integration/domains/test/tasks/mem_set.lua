return { agent = "mem_set", timeout = 10, max_attempts = 1 }
