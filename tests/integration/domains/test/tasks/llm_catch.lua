return { agent = "llm_catch", timeout = 60, max_attempts = 1 }
