return { agent = "notes", timeout = 10, max_attempts = 1 }
