return { agent = "llm_tools", timeout = 60, max_attempts = 2, retry = { base_ms = 50, max_ms = 200 } }
