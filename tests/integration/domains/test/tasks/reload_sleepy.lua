return { agent = "reload_sleepy", timeout = 30, max_attempts = 1 }
