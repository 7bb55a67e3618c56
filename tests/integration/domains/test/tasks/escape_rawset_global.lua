return { agent = "escape_rawset_global", timeout = 10, max_attempts = 1 }
