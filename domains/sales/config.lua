-- Sales domain settings.
return { description = "Qualify and close leads", concurrency = 64, max_attempts = 3 }
