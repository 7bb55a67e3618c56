-- Waits on the loop (sleep), then asks the model: the test runner must drive the run to its end.
return {
  run = function(task, ctx)
    sleep(task.input.seconds or 0.02)
    local reply = llm.chat{ prompt = "after the nap" }
    return { woke = true, provider = reply.provider }
  end,
}
