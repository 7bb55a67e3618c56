return { agent = "escape_io_open", timeout = 10, max_attempts = 1 }
