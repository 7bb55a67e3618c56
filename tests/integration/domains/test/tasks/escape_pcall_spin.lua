return { agent = "escape_pcall_spin", timeout = 30, max_attempts = 1, cpu_budget = 2000000 }
