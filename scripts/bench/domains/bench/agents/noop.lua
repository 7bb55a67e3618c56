-- Baseline for llm_bench.sh: the same claim, run and completion as llm_once, without the model call.
return { name = "noop", run = function(task, ctx) return { n = 0 } end }
