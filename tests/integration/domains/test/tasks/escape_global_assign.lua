return { agent = "escape_global_assign", timeout = 10, max_attempts = 1 }
