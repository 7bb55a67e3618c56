-- One model round trip per task and a tiny result: what llm_bench.sh measures is the engine's cost of
-- an llm.chat call (yield, HTTP transfer on the loop's curl multi handle, resume, journal), not Lua work.
return {
  name = "llm_once",
  run = function(task, ctx)
    local r = llm.chat { prompt = "ping " .. tostring(task.id), max_tokens = 8 }
    return { n = #r.text }
  end,
}
