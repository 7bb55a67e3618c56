return { agent = "escape_package_loadlib", timeout = 10, max_attempts = 1 }
