-- bench.noop: the baseline of llm_bench.sh (the same task life cycle without llm.chat).
return { agent = "noop", description = "LLM benchmark baseline: no call", max_attempts = 1, timeout = 60 }
