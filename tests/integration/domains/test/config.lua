return { description = "test domain" }
