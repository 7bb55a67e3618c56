return { agent = "mem_get", timeout = 10, max_attempts = 1 }
