return { agent = "escape_loadfile", timeout = 10, max_attempts = 1 }
