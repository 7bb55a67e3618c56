return { agent = "llm_echo", timeout = 60, max_attempts = 3, retry = { base_ms = 50, max_ms = 200 } }
