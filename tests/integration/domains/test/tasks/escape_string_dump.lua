return { agent = "escape_string_dump", timeout = 10, max_attempts = 1 }
