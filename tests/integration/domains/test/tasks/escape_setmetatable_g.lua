return { agent = "escape_setmetatable_g", timeout = 10, max_attempts = 1 }
