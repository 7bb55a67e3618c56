-- bench.llm_once: one llm.chat call per task (scripts/bench/llm_bench.sh).
return {
  agent = "llm_once",
  description = "LLM benchmark: exactly one llm.chat call",
  max_attempts = 1, -- a failed call must show up as a failed task, not be retried behind the clock
  timeout = 60,
}
