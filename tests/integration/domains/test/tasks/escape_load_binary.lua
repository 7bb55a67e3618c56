return { agent = "escape_load_binary", timeout = 10, max_attempts = 1 }
