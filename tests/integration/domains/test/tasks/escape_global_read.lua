return { agent = "escape_global_read", timeout = 10, max_attempts = 1 }
