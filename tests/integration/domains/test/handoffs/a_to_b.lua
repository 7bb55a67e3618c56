-- test.flow_a -> test.flow_b: only positive results, never above 1000.
return {
  on = "test.flow_a",
  to = "test.flow_b",
  when = function(result) return result.ok end,
  validate = function(result)
    if result.value >= 1000 then return false, { "value " .. result.value .. " is too big (max 999)" } end
    return true
  end,
  extract = function(result, meta) return { value = result.value, source = meta.task_id } end,
  transform = function(data, meta)
    if meta.input.n == 7 then return { n = -1 } end   -- breaks flow_b's schema: rejected by the engine
    return { n = data.value, from = data.source, fail = meta.input.fail_b }
  end,
}
