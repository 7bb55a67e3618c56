return { agent = "numbers", timeout = 10, max_attempts = 1 }
