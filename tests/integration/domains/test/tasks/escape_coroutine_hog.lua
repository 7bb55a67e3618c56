return { agent = "escape_coroutine_hog", timeout = 30, max_attempts = 1, memory_limit = 8 * 1024 * 1024 }
