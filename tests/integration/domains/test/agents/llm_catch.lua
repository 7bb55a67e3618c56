-- Catches llm.chat's structured error and returns it.
local agent = { name = "LLM error catcher" }

function agent.run(task, ctx)
  local ok, err = pcall(llm.chat, { prompt = "hello", provider = task.input.provider, timeout = task.input.timeout })
  if ok then return { ok = true, text = err.text } end
  return { ok = false, code = err.code, message = err.message, retryable = err.retryable }
end

return agent
