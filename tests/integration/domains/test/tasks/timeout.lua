-- the sleepy agent under a 1 s timeout
return { agent = "sleepy", timeout = 1, max_attempts = 1 }
