local agent = { name = "globals" }

-- touches every global the scripting contract promises
function agent.run(task, ctx)
  local decoded = json.decode(json.encode({ a = 1, b = { "x", "y" } }))
  log.info("globals agent says hello", task.id)
  local co = coroutine.wrap(function(a) coroutine.yield(a + 1) end)
  local t = { 3, 1, 2 }
  table.sort(t)
  return {
    task_id = task.id,
    task_type = task.type,
    task_domain = task.domain,
    attempt = task.attempt,
    echo = task.input.echo,
    json_a = decoded.a,
    json_b2 = decoded.b[2],
    now_is_number = type(time.now()) == "number",
    now = time.now(),
    upper = string.upper("abc"),
    floor = math.floor(3.7),
    utf8_len = utf8.len("Zoë"),
    co = co(41),
    sorted = table.concat(t, ","),
    pcall_ok = select(1, pcall(error, "x")) == false,
    tostring_ok = tostring(12) == "12",
  }
end

return agent
