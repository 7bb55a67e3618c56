return { agent = "escape_collectgarbage_stop", timeout = 10, max_attempts = 1 }
