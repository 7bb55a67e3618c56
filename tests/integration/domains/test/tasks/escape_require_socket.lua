return { agent = "escape_require_socket", timeout = 10, max_attempts = 1 }
