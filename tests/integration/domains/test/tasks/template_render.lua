return { agent = "template_render", timeout = 10, max_attempts = 1 }
