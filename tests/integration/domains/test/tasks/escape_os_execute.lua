return { agent = "escape_os_execute", timeout = 10, max_attempts = 1 }
