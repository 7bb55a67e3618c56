return { agent = "escape_dofile", timeout = 10, max_attempts = 1 }
