return { agent = "escape_string_metatable", timeout = 10, max_attempts = 1 }
