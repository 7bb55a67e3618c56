return { agent = "escape_debug_getinfo", timeout = 10, max_attempts = 1 }
