-- llm_chat.lua: llm.chat{...}, the part of the `llm` global written in Lua (embedded in the engine).
--
-- The engine loads this file once per Lua state and calls the function it returns with its C
-- primitives. llm.chat builds the normalized request (engine/llm/provider.h), runs the tool-call
-- loop (the model asks for a tool, the tool's run(args, ctx) runs here, in the task's coroutine, and
-- its result goes back to the model), decodes and checks JSON answers against a schema with one repair
-- attempt, and raises structured errors {code=, message=, retryable=}. Each model round trip is one
-- call of the C primitive `call`, which journals it and may answer it from the journal.

return function(call, validate, tool_module, domain_llm)
  local type, pairs, ipairs, error, pcall, tostring = type, pairs, ipairs, error, pcall, tostring
  local tconcat, sfind, ssub, smatch = table.concat, string.find, string.sub, string.match

  -- level: 3 points at llm.chat's caller when called from chat itself, 4 from a helper of chat
  local function misuse(msg, level)
    error("llm.chat: " .. msg, level or 3)
  end

  local function fail(code, message, retryable)
    error({ code = code, message = message, retryable = retryable }, 0)
  end

  local function copy_messages(src)
    local out = {}
    for i, m in ipairs(src) do
      if type(m) ~= "table" then misuse("messages[" .. i .. "] must be a table", 4) end
      local role = m.role
      if role ~= "user" and role ~= "assistant" and role ~= "tool" and role ~= "system" then
        misuse("messages[" .. i .. "].role must be user, assistant, tool or system", 4)
      end
      local content = m.content
      if content ~= nil and type(content) ~= "string" then
        misuse("messages[" .. i .. "].content must be a string", 4)
      end
      out[i] = { role = role, content = content or "", tool_calls = m.tool_calls,
                 tool_call_id = m.tool_call_id, name = m.name }
    end
    return out
  end

  -- The tools of a request: names of the domain's tool modules (domains/<domain>/tools/<name>.lua)
  -- or the modules themselves. Returns the specs for the model and a name -> module map.
  local function resolve_tools(list)
    if list == nil then return nil, {} end
    if type(list) ~= "table" then misuse("tools must be a list of tool names or tool modules", 4) end
    local specs, byname = {}, {}
    for i, t in ipairs(list) do
      local mod, name = t, nil
      if type(t) == "string" then
        name = t
        mod = tool_module(t)
        if mod == nil then misuse("unknown tool '" .. t .. "' (expected domains/<domain>/tools/" .. t .. ".lua)", 4) end
      elseif type(t) ~= "table" then
        misuse("tools[" .. i .. "] must be a tool name or a tool module", 4)
      end
      name = mod.name or name
      if type(name) ~= "string" or type(mod.run) ~= "function" then
        misuse("tools[" .. i .. "] must have a name and a run(args, ctx) function", 4)
      end
      specs[#specs + 1] = { name = name, description = mod.description or name,
                            parameters = mod.parameters or { type = "object", properties = {} } }
      byname[name] = mod
    end
    if #specs == 0 then return nil, byname end
    return specs, byname
  end

  -- The JSON value in a model's text: the text itself, or the first fenced or braced block in it.
  local function decode_json(text)
    local ok, v = pcall(json.decode, text)
    if ok then return true, v end
    local fenced = smatch(text, "```%w*%s*(.-)%s*```")
    if fenced then
      ok, v = pcall(json.decode, fenced)
      if ok then return true, v end
    end
    local s = sfind(text, "[{%[]")
    if s then
      ok, v = pcall(json.decode, ssub(text, s))
      if ok then return true, v end
    end
    return false, "the answer is not JSON"
  end

  local function describe(errors)
    local parts = {}
    for i, e in ipairs(errors) do
      if i > 5 then break end
      parts[#parts + 1] = (e.field ~= "" and e.field .. ": " or "") .. e.message
    end
    return tconcat(parts, "; ")
  end

  local function chat(req)
    if type(req) ~= "table" then misuse("expected a table: llm.chat{ messages = {...} }") end
    local messages
    if req.messages ~= nil then
      if type(req.messages) ~= "table" then misuse("messages must be a list of {role=, content=}") end
      messages = copy_messages(req.messages)
    elseif type(req.prompt) == "string" then
      messages = { { role = "user", content = req.prompt } }
    else
      misuse("messages (a list) or prompt (a string) is required")
    end
    if #messages == 0 then misuse("messages must not be empty") end
    if req.system ~= nil and type(req.system) ~= "string" then misuse("system must be a string") end
    if req.schema ~= nil and type(req.schema) ~= "table" then misuse("schema must be a table (a JSON schema)") end
    if req.temperature ~= nil and type(req.temperature) ~= "number" then misuse("temperature must be a number") end
    if req.max_tokens ~= nil and math.type(req.max_tokens) ~= "integer" then misuse("max_tokens must be an integer") end
    if req.timeout ~= nil and (type(req.timeout) ~= "number" or req.timeout <= 0) then
      misuse("timeout must be a number of seconds > 0")
    end
    if req.provider ~= nil and type(req.provider) ~= "string" then misuse("provider must be a string") end
    if req.model ~= nil and type(req.model) ~= "string" then misuse("model must be a string") end
    local max_turns = req.max_turns or 8
    if math.type(max_turns) ~= "integer" or max_turns < 1 or max_turns > 50 then
      misuse("max_turns must be an integer from 1 to 50")
    end
    local specs, tools = resolve_tools(req.tools)
    local want_json = req.json == true or req.schema ~= nil
    local dc = domain_llm() or {}
    local opts = { provider = req.provider or dc.provider, model = req.model or dc.model, timeout = req.timeout,
                   task_budget = dc.task_budget, daily_budget = dc.daily_budget }
    local tool_ctx = req.ctx or {}

    local usage = { prompt_tokens = 0, completion_tokens = 0 }
    local cost, latency, repaired, replayed = 0, 0, false, true
    for _ = 1, max_turns + 1 do
      local r = call({ system = req.system, messages = messages, temperature = req.temperature,
                       max_tokens = req.max_tokens, tools = specs, json = want_json or nil,
                       schema = req.schema }, opts)
      usage.prompt_tokens = usage.prompt_tokens + (r.usage and r.usage.prompt_tokens or 0)
      usage.completion_tokens = usage.completion_tokens + (r.usage and r.usage.completion_tokens or 0)
      cost = cost + (r.cost or 0)
      latency = latency + (r.latency_ms or 0)
      replayed = replayed and r.replayed == true
      local out = { text = r.text or "", usage = usage, cost = cost, latency_ms = latency, provider = r.provider,
                    model = r.model, replayed = replayed, finish_reason = r.finish_reason }
      if r.tool_calls and #r.tool_calls > 0 then
        messages[#messages + 1] = { role = "assistant", content = r.text or "", tool_calls = r.tool_calls }
        for _, tc in ipairs(r.tool_calls) do
          local t, result = tools[tc.name], nil
          if t == nil then
            result = { error = "unknown tool: " .. tostring(tc.name) }
          else
            local args = tc.arguments or {}
            local errs = t.parameters and validate(t.parameters, args) or {}
            if #errs > 0 then
              result = { error = "invalid arguments: " .. describe(errs) }
            else
              local ok, v = pcall(t.run, args, tool_ctx)
              if ok then
                result = v
              else
                result = { error = type(v) == "table" and tostring(v.message) or tostring(v) }
              end
            end
          end
          local ok, text = pcall(json.encode, result == nil and json.null or result)
          messages[#messages + 1] = { role = "tool", tool_call_id = tc.id, name = tc.name,
                                      content = ok and text or tostring(result) }
        end
      elseif not want_json then
        return out
      else
        local ok, data = decode_json(out.text)
        local problem
        if not ok then
          problem = data
        elseif req.schema then
          local errs = validate(req.schema, data)
          if #errs > 0 then problem = describe(errs) end
        end
        if problem == nil then
          out.data = data
          return out
        end
        if repaired then
          fail("invalid_response", "the model's answer does not match the requested JSON: " .. problem, true)
        end
        repaired = true
        messages[#messages + 1] = { role = "assistant", content = out.text }
        messages[#messages + 1] = { role = "user", content =
          "Your answer was not valid: " .. problem .. ". Answer again with only the corrected JSON." }
      end
    end
    fail("invalid_response", "the model kept calling tools past max_turns (" .. max_turns .. ")", false)
  end

  -- ctx.tool(name, args): an agent runs one of its domain's tools itself (args checked against the tool's
  -- parameters first), getting the tool's result or its error raised.
  local function bind_tool(ctx)
    return function(name, args)
      if type(name) ~= "string" then error("ctx.tool: expected a tool name", 2) end
      local mod = tool_module(name)
      if mod == nil then
        error("ctx.tool: unknown tool '" .. name .. "' (expected domains/" .. tostring(ctx.domain) .. "/tools/" ..
              name .. ".lua)", 2)
      end
      args = args or {}
      local errs = mod.parameters and validate(mod.parameters, args) or {}
      if #errs > 0 then error("ctx.tool: invalid arguments for " .. name .. ": " .. describe(errs), 2) end
      return mod.run(args, ctx)
    end
  end

  return chat, bind_tool
end
