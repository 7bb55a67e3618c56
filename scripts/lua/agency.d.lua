---@meta agency
-- agency.d.lua: LuaLS (lua-language-server) annotations for the Lua API of Agency Engine scripts, so editors
-- complete and check domains/*. Never loaded by the engine: it only describes what the engine provides.
-- domains/.luarc.json points the language server at this file; docs/scripting.md "Editor support".
--
-- Typing a module makes its fields checked and completed:
--   ---@type agency.Agent            local agent = { ... }           (agents/*.lua)
--   ---@type agency.TaskType         return { ... }                  (tasks/*.lua)
--   ---@type agency.Tool             return { ... }                  (tools/*.lua)
--   ---@type agency.Handoff          return { ... }                  (handoffs/*.lua)
--   ---@type agency.DomainConfig     return { ... }                  (config.lua)
-- and a run function's parameters: ---@param task agency.Task / ---@param ctx agency.Context.
--
-- Only the globals below exist in the sandbox, besides assert, error, ipairs, next, pairs, pcall, select,
-- tonumber, tostring, type, xpcall, rawequal, rawget, rawlen, getmetatable, setmetatable (no __gc), load
-- (text only), _VERSION and the libraries string (no string.dump), table, math, utf8 and coroutine. Not there:
-- io, os, debug, package, require, dofile, loadfile, rawset, collectgarbage (the .luarc.json disables the first
-- four). The test API at the end exists only in *_test.lua files run by `agency test`.

---------------------------------------------------------------------------------------------------------------
-- JSON values and schemas

---JSON null, as json.decode gives it and json.encode writes it (distinct from nil, which is "absent").
---@class agency.Null: userdata

---A decoded JSON value: tables are objects (string keys) or arrays (keys 1..n).
---@alias agency.JsonValue string|number|integer|boolean|table|agency.Null

---@alias agency.SchemaType "object"|"array"|"string"|"number"|"integer"|"boolean"|"null"

---The schema language of task inputs, tool parameters and llm.chat{schema=}: a subset of JSON Schema written as
---a Lua table. Unknown keywords are errors (they catch typos such as minLenght).
---@class agency.Schema
---@field type? agency.SchemaType|agency.SchemaType[]
---@field required? string[] property names that must be present
---@field properties? table<string, agency.Schema>
---@field additionalProperties? boolean|agency.Schema false: no other property; a schema: others must match it
---@field items? agency.Schema every element of an array
---@field minItems? integer
---@field maxItems? integer
---@field enum? agency.JsonValue[] the allowed values
---@field const? agency.JsonValue the only allowed value
---@field minimum? number inclusive
---@field maximum? number inclusive
---@field exclusiveMinimum? number
---@field exclusiveMaximum? number
---@field minLength? integer in UTF-8 characters
---@field maxLength? integer in UTF-8 characters
---@field pattern? string a LUA pattern ("^%d+$"), not a regular expression; unanchored unless it uses ^/$
---@field format? "email"|"date-time"|"date"|"uri"
---@field description? string ignored by validation
---@field title? string ignored by validation
---@field default? any ignored by validation
---@field examples? any[] ignored by validation

---One schema violation.
---@class agency.SchemaError
---@field field string the dotted path of the offending value ("email", "items[0].name"; "" for the root)
---@field message string

---------------------------------------------------------------------------------------------------------------
-- json

---lua-cjson's decoder and the engine's exact encoder.
---@class agency.json
---@field null agency.Null JSON null
json = {}

---Encodes a value as JSON text. Tables with keys exactly 1..n become arrays, others objects; an empty table is {}
---(json.array() gives []).
---Integers print exactly, integral floats without a fraction (20000.0 -> 20000). Raises on functions,
---userdata (except json.null), NaN, infinities and nesting deeper than 128.
---@param value agency.JsonValue|nil
---@return string
function json.encode(value) end

---Decodes JSON text. Integral numbers within 2^53 become Lua integers; null becomes json.null. Raises on
---invalid JSON.
---@param text string
---@return agency.JsonValue
function json.decode(text) end

---Marks a table as a JSON array, so that json.encode writes it as [] even when it is empty (an empty table is
---otherwise {}). Returns the table (a new one when t is nil); raises if t already has another metatable.
---@generic T: table
---@param t? T
---@return T
function json.array(t) end

---------------------------------------------------------------------------------------------------------------
-- log, print, time, sleep

---Log lines tagged with the script's file:line; the arguments are joined with spaces (tostring).
---@class agency.log
log = {}

---@param ... any
function log.debug(...) end

---@param ... any
function log.info(...) end

---@param ... any
function log.warn(...) end

---@param ... any
function log.error(...) end

---Writes one info log line (in a test file under `agency test`: one line on standard output).
---@param ... any
function print(...) end

---@class agency.time
time = {}

---Seconds since the Unix epoch, with milliseconds as the fraction.
---@return number
function time.now() end

---Milliseconds since the Unix epoch.
---@return integer
function time.ms() end

---An ISO-8601 UTC timestamp ("2026-03-01T10:00:00.000Z") of now, or of the given seconds since the epoch.
---@param seconds? number
---@return string
function time.iso(seconds) end

---Pauses the task (it waits on a timer; no thread is held). Only inside a task.
---@param seconds number
function sleep(seconds) end

---------------------------------------------------------------------------------------------------------------
-- memory

---@class agency.MemoryGetOptions
---@field domain? string read another domain's memory (read-only; it must be named)

---@class agency.MemoryTtlOptions
---@field ttl? number seconds (fractions allowed, > 0, at most ten years); without it the key never expires

---The domain's shared key-value store, persisted by the engine. Values are anything json.encode accepts; an
---absent or expired key reads as nil. A script writes only its own domain's memory. Only inside a task.
---Store failures raise {code = "store_error", retryable = true}.
---@class agency.memory
memory = {}

---@param key string 1 to 512 bytes
---@param opts? agency.MemoryGetOptions
---@return agency.JsonValue|nil
function memory.get(key, opts) end

---A set without ttl keeps the key forever, even when an earlier set gave it one.
---@param key string
---@param value agency.JsonValue
---@param opts? agency.MemoryTtlOptions
function memory.set(key, value, opts) end

---Adds by (default 1) to the integer at key, atomically; a missing or expired key counts from 0 and takes the
---ttl, an existing count keeps its expiry (a fixed window). A value that is not an integer raises
---{code = "invalid_state"}.
---@param key string
---@param by? integer
---@param opts? agency.MemoryTtlOptions
---@return integer
---@overload fun(key: string, opts: agency.MemoryTtlOptions): integer
function memory.incr(key, by, opts) end

---@param key string
function memory.delete(key) end

---------------------------------------------------------------------------------------------------------------
-- llm

---@class agency.ChatMessage
---@field role "user"|"assistant"|"tool"|"system"
---@field content? string
---@field tool_calls? agency.ToolCall[] an assistant message that asked for tools
---@field tool_call_id? string a tool message: the call it answers
---@field name? string a tool message: the tool's name

---@class agency.ToolCall
---@field id string
---@field name string
---@field arguments table

---@class agency.ChatRequest
---@field messages? agency.ChatMessage[] the conversation (this or prompt is required)
---@field prompt? string shorthand for one user message
---@field system? string the system prompt
---@field json? boolean the answer must be a JSON object, decoded into reply.data
---@field schema? agency.Schema the answer must satisfy it (implies json); a mismatch is sent back once for repair
---@field tools? (string|agency.Tool)[] tool names (domains/<domain>/tools/<name>.lua) or tool modules; ctx.tools
---@field max_turns? integer tool round trips allowed, 1 to 50 (default 8)
---@field temperature? number
---@field max_tokens? integer
---@field provider? "openai"|"anthropic"|"mock" overrides the domain's and the engine's default
---@field model? string
---@field timeout? number seconds for one HTTP attempt
---@field ctx? table the table each tool's run(args, ctx) gets

---@class agency.ChatUsage
---@field prompt_tokens integer
---@field completion_tokens integer

---@class agency.ChatResponse
---@field text string the model's answer
---@field data? agency.JsonValue the decoded answer (json = true or a schema)
---@field usage agency.ChatUsage summed over tool turns
---@field cost number USD
---@field latency_ms integer
---@field provider string
---@field model string
---@field replayed boolean the answer came from the task's journal, not the network
---@field finish_reason? string

---What a failed llm.chat raises (catch it with pcall).
---@class agency.LlmError
---@field code "timeout"|"rate_limited"|"provider_error"|"invalid_response"|"budget_exceeded"|"replay_missing"
---@field message string
---@field retryable boolean the queue retries the task when the error is not caught
---@field provider? string

---@class agency.llm
llm = {}

---Asks a language model; the task waits while it answers. Raises agency.LlmError when the call still fails
---after the engine's retries and fallback providers. Only inside a task.
---@param request agency.ChatRequest
---@return agency.ChatResponse
function llm.chat(request) end

---------------------------------------------------------------------------------------------------------------
-- task.approve, template.render

---@class agency.ApprovalRequest
---@field reason string 1 to 2000 bytes: what the human is asked
---@field data? agency.JsonValue what the human sees with it

---@class agency.ApprovalDecision
---@field approved boolean
---@field decision "approved"|"rejected"
---@field comment? string
---@field decided_by? string
---@field decided_at? string ISO-8601
---@field data? agency.JsonValue the data of the request the decision was made on
---@field auto? boolean true when nobody could be asked (agency run) and it was approved at once

---@class agency.taskapi
task = {}

---Asks a human to decide. The first time, the task stops here and waits (state `waiting`) until
---POST /api/v1/tasks/{id}/approve; then it runs again from the start (llm.chat answered from the journal) and
---this call returns the decision at once. Code before it must be deterministic. Outside a task it approves at
---once (auto = true); under `agency test`, run_agent's opts.approve decides.
---@param request agency.ApprovalRequest
---@return agency.ApprovalDecision
function task.approve(request) end

---@class agency.template
template = {}

---Renders domains/<the task's domain>/templates/<name>.txt (or .md): {{var}} and {{var.field}} placeholders,
---{{items.1}} indexes arrays; tables render as JSON. A missing value raises
---"templates/<name>.txt:<line>: missing value for {{x}}".
---@param name string
---@param vars? table
---@return string
function template.render(name, vars) end

---------------------------------------------------------------------------------------------------------------
-- what scripts are: modules, task, ctx

---The task an agent runs (the first argument of run). Its approve is task.approve.
---@class agency.Task
---@field id integer 0 outside the queue (agency run, agency test)
---@field type? string "<domain>.<task>"; nil when the agent runs directly (agency run)
---@field domain string
---@field agent string
---@field attempt integer 1 for the first run
---@field input table the decoded JSON input, already checked against the task type's schema
---@field approve fun(request: agency.ApprovalRequest): agency.ApprovalDecision

---The second argument of run (and of a tool's run when an agent calls it through ctx.tool).
---@class agency.Context
---@field domain string
---@field task_id integer
---@field attempt integer
---@field script_version string content hash of the agent script that runs
---@field workflow_id? string the workflow the task belongs to
---@field tools? string[] the agent's `tools` list, for llm.chat{tools = ctx.tools}
---@field config? agency.DomainConfig the domain's config.lua
---@field template fun(name: string, vars?: table): string template.render
---@field tool fun(name: string, args?: table): any runs a tool of the domain (args checked against its parameters)

---domains/<domain>/agents/<name>.lua
---@class agency.Agent
---@field name? string display name
---@field description? string
---@field capabilities? string[]
---@field tools? string[] tool names of the domain (ctx.tools)
---@field run fun(task: agency.Task, ctx: agency.Context): agency.JsonValue|nil the task's result (JSON-encodable)

---@class agency.RetryPolicy
---@field base_ms? number
---@field max_ms? number

---domains/<domain>/tasks/<name>.lua: the task type "<domain>.<name>"
---@class agency.TaskType
---@field agent string the agent that runs it (agents/<agent>.lua of the same domain)
---@field description? string
---@field input? agency.Schema what an input must match (else 422 with the errors)
---@field timeout? number seconds per attempt
---@field max_attempts? integer 1 to 100 (default: the domain's, else 3)
---@field retry? agency.RetryPolicy backoff between attempts
---@field cpu_budget? integer Lua instructions per run (default 50,000,000)
---@field memory_limit? integer bytes per run (default 64 MiB)

---domains/<domain>/tools/<name>.lua
---@class agency.Tool
---@field name? string the name the model sees (default: the file name)
---@field description? string what the model reads to choose it
---@field parameters? agency.Schema its arguments (checked before run)
---@field run fun(args: table, ctx: table): agency.JsonValue|nil

---What a handoff's functions get besides the source result.
---@class agency.HandoffMeta
---@field task_id integer the source task
---@field task_type string the source task type
---@field domain string the source domain
---@field workflow_id? string
---@field input table the source task's input

---when(result, meta): false means the handoff does not apply (nothing is recorded).
---@alias agency.HandoffWhen fun(result: any, meta: agency.HandoffMeta): boolean

---validate(result, meta): true, or false and the reasons: the handoff is recorded as rejected, nothing runs.
---@alias agency.HandoffValidate fun(result: any, meta: agency.HandoffMeta): boolean, string[]?

---extract(result, meta): the data transform gets (default: the result).
---@alias agency.HandoffExtract fun(result: any, meta: agency.HandoffMeta): any

---transform(data, meta): the target task's input, checked against the target task type's schema.
---@alias agency.HandoffTransform fun(data: any, meta: agency.HandoffMeta): table

---domains/<from>/handoffs/<name>.lua. Its functions must be pure: no llm.chat, memory writes or sleep.
---@class agency.Handoff
---@field description? string
---@field on string|string[] the source task type(s) whose success triggers it
---@field to string the target task type "<domain>.<task>"
---@field when? agency.HandoffWhen
---@field validate? agency.HandoffValidate
---@field extract? agency.HandoffExtract
---@field transform agency.HandoffTransform

---@class agency.LlmSettings
---@field provider? "openai"|"anthropic"|"mock"
---@field model? string
---@field task_budget? number USD per task over all attempts
---@field daily_budget? number USD per UTC day for the domain

---domains/<domain>/config.lua (a domain may add settings of its own; ctx.config has them all)
---@class agency.DomainConfig
---@field description? string
---@field concurrency? integer
---@field max_attempts? integer default attempts of the domain's task types
---@field entry? string the task a workflow starting in this domain runs
---@field llm? agency.LlmSettings
---@field [string] any

---------------------------------------------------------------------------------------------------------------
-- the test API: only in *_test.lua files, run by `agency test [PATH]`

---@class agency.ScriptedToolCall
---@field name string
---@field arguments? table
---@field id? string

---A scripted model answer: a string is the text; a table with text or tool_calls is an answer; any other table is
---a JSON answer (encoded as the text).
---@alias agency.ScriptedAnswer string|{text?: string, tool_calls?: agency.ScriptedToolCall[]}|table

---@class agency.TestLlmOptions
---@field responses? agency.ScriptedAnswer[] the model's answers, in order, instead of the mock's

---@class agency.TestDecision
---@field approved boolean
---@field comment? string
---@field decided_by? string default "test"
---@field decided_at? string default now
---@field data? agency.JsonValue default the request's data

---Decides a task.approve{} request in a test: a decision, or true/false.
---@alias agency.TestApprover fun(request: agency.ApprovalRequest): agency.TestDecision|boolean

---@class agency.RunOptions
---@field llm? agency.TestLlmOptions
---@field approve? agency.TestDecision|agency.TestApprover what task.approve{} returns (default: approved at once, auto = true)
---@field workflow_id? string ctx.workflow_id
---@field attempt? integer task.attempt (default 1)

---@class agency.HandoffOutcome
---@field name string the handoff
---@field to? string the target task type
---@field status "accepted"|"rejected"|"skipped" skipped: its `when` said no
---@field reasons string[] why it was rejected (validate's reasons, the target schema's errors, or an error)
---@field input? table the target task's input (accepted)

---@class agency.TestMeta
---@field task_id? integer default 0
---@field task_type? string default the handoff's `on` (the first of a list)
---@field workflow_id? string
---@field input? table the source task's input, default {}

---Declares a test. Each runs on its own: a failure ends only that test, memory starts empty.
---@param name string
---@param fn fun()
function test(name, fn) end

---Deep equality; the failure names the first difference ("at .tiers[2].price: expected 4500, got 4450").
---@param actual any
---@param expected any
---@param msg? string
function eq(actual, expected, msg) end

---Fails unless value is neither nil nor false; returns it.
---@generic T
---@param value T
---@param msg? string
---@return T
function ok(value, msg) end

---Fails unless s is a string matching the Lua pattern; returns s.
---@param s any
---@param pattern string
---@param msg? string
---@return string
function match(s, pattern, msg) end

---Fails unless fn raises (an error whose text matches pattern); returns the error.
---@param fn fun()
---@param pattern? string a Lua pattern matched against the error's text ("code: message" for error tables)
---@return any
function raises(fn, pattern) end

---Runs agents/<name>.lua of the test file's domain once (task id 0, in-memory store, mock LLM) and returns its
---result; raises the run's error (file:line) when it fails.
---@param name string
---@param input? table
---@param opts? agency.RunOptions
---@return any
function run_agent(name, input, opts) end

---Like run_agent through a task type ("<task>" of the file's domain, or "<domain>.<task>"): the input is checked
---against its schema first (the errors are raised). Also returns what the engine would hand off on this success.
---@param type string
---@param input? table
---@param opts? agency.RunOptions
---@return any result
---@return agency.HandoffOutcome[] handoffs
function run_task(type, input, opts) end

---Evaluates handoffs/<name>.lua of the file's domain against a result exactly as the engine does (when, validate,
---extract, transform, the target's input schema).
---@param name string
---@param result any
---@param meta? agency.TestMeta
---@return agency.HandoffOutcome
function run_handoff(name, result, meta) end
