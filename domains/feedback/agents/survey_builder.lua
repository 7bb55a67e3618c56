-- Survey Builder: a completed project -> the client survey (feedback.collect_feedback, the entry of
-- the feedback domain and the target of the Fulfillment -> Feedback handoff).
--
-- Deterministic questions, in this order: NPS (0-10, its answer is a response's `score`); satisfaction
-- (1-5) with each of the first five deliverables; the timeline (a 1-5 impact question when the
-- project slipped, else yes/no); communication (1-5); one open question for the free-text `comment`.
-- llm.chat adds up to two questions tailored to the project. The due date is the completion date +
-- survey_due_days (config.lua, 7). When the input already has responses they are passed on
-- (handoffs/to_analysis.lua sends them to feedback.analyze_sentiment).

local DEFAULT_DUE_DAYS = 7 -- when config.lua (ctx.config) has no survey_due_days
local MAX_DELIVERABLE_QUESTIONS = 5

local function fail(msg) error("survey_builder: " .. msg, 2) end

local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = (z >= 0 and z or z - 146096) // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  return yoe + era * 400 + (m <= 2 and 1 or 0), m, d
end

local function iso(day)
  local y, m, d = civil_from_days(day)
  return string.format("%04d-%02d-%02d", y, m, d)
end

local function parse_date(s)
  local y, m, d = tostring(s):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)")
  if not y then return nil end
  return days_from_civil(tonumber(y), tonumber(m), tonumber(d))
end

local function id_text(id)
  local i = math.tointeger(id)
  return i and tostring(i) or tostring(id)
end

local function check(input)
  if type(input) ~= "table" then fail("input must be an object") end
  local p = input.project
  if type(p) ~= "table" then fail("input.project is required (the completed project)") end
  if p.id == nil or (type(p.id) ~= "string" and math.tointeger(p.id) == nil) or p.id == "" then
    fail("input.project.id is required (a string or an integer)")
  end
  for _, k in ipairs({ "name", "client" }) do
    if type(p[k]) ~= "string" or p[k] == "" then fail("input.project." .. k .. " is required") end
  end
  if p.completed_at ~= nil and parse_date(p.completed_at) == nil then
    fail("input.project.completed_at must be an ISO date or date-time")
  end
  if input.responses ~= nil then
    if type(input.responses) ~= "table" then fail("input.responses must be a list") end
    for i, r in ipairs(input.responses) do
      if type(r) ~= "table" then fail(string.format("input.responses[%d] must be an object", i - 1)) end
      if r.score ~= nil and (math.tointeger(r.score) == nil or r.score < 0 or r.score > 10) then
        fail(string.format("input.responses[%d].score must be an integer from 0 to 10", i - 1))
      end
    end
  end
end

-- Pure: the deterministic questions for a project.
local function base_questions(project, offer_name)
  local qs = {}
  qs[#qs + 1] = { id = "nps", type = "scale", min = 0, max = 10,
                  text = string.format("How likely are you to recommend %s to a colleague?",
                    offer_name and ("our " .. offer_name) or "us") }
  local deliverables = type(project.deliverables) == "table" and project.deliverables or {}
  for i = 1, math.min(#deliverables, MAX_DELIVERABLE_QUESTIONS) do
    qs[#qs + 1] = { id = "csat_" .. i, type = "scale", min = 1, max = 5,
                    text = string.format("How satisfied are you with: %s?", deliverables[i]) }
  end
  if project.on_time == false then
    qs[#qs + 1] = { id = "timeline", type = "scale", min = 1, max = 5,
                    text = "The project finished later than planned. How much did that affect you? "
                      .. "(1 = not at all, 5 = a lot)" }
  else
    qs[#qs + 1] = { id = "timeline", type = "yes_no", text = "Did we deliver on the dates we agreed?" }
  end
  qs[#qs + 1] = { id = "communication", type = "scale", min = 1, max = 5,
                  text = "How well did we keep you informed during the project?" }
  qs[#qs + 1] = { id = "comment", type = "text", text = "What one thing should we change for the next project?" }
  return qs
end

local EXTRA_SCHEMA = {
  type = "object",
  required = { "questions" },
  properties = { questions = { type = "array", maxItems = 2,
                               items = { type = "object", required = { "text" },
                                         properties = { text = { type = "string", minLength = 10, maxLength = 200 } } } } },
}

local agent = {
  name = "Survey Builder",
  capabilities = { "surveys", "client_feedback" },
  tools = {},
  base_questions = base_questions, -- pure, for tests
}

function agent.run(task, ctx)
  local input = task.input
  check(input)
  local project, offer = input.project, type(input.offer) == "table" and input.offer or nil
  local cfg = type(ctx.config) == "table" and ctx.config or {}
  local due_days = type(cfg.survey_due_days) == "number" and cfg.survey_due_days or DEFAULT_DUE_DAYS
  local questions = base_questions(project, offer and offer.name or nil)

  local deliverables = type(project.deliverables) == "table" and project.deliverables or {}
  local ok, reply = pcall(llm.chat, {
    system = "You design short client surveys for a digital agency. One idea per question, neutral wording.",
    prompt = ctx.template("survey", {
      project = { name = project.name, client = project.client },
      offer = offer and tostring(offer.name or offer.slug) or "(no offer recorded)",
      deliverables = #deliverables > 0 and "- " .. table.concat(deliverables, "\n- ") or "(none listed)",
      on_time = project.on_time == false and "no, it finished late" or "yes",
      questions = (function()
        local t = {}
        for i, q in ipairs(questions) do t[i] = string.format("%d. %s", i, q.text) end
        return table.concat(t, "\n")
      end)(),
    }),
    schema = EXTRA_SCHEMA,
    max_tokens = 400,
  })
  if ok then
    for i, q in ipairs(reply.data.questions or {}) do
      table.insert(questions, #questions, { id = "custom_" .. i, type = "text", text = q.text, tailored = true })
    end
  else
    log.warn("survey_builder: no tailored questions:", type(reply) == "table" and reply.code or tostring(reply))
  end

  local done = project.completed_at and parse_date(project.completed_at) or math.floor(time.now() / 86400)
  local pid = id_text(project.id)
  local survey = {
    id = "survey-" .. pid,
    title = string.format("How did %s go?", project.name),
    send_to = type(input.contact) == "table" and input.contact.email or nil,
    due_date = iso(done + due_days),
    questions = questions,
  }
  memory.set("survey:" .. pid, survey)
  local responses = type(input.responses) == "table" and input.responses or {}
  log.info("survey built", survey.id, #questions, "questions", #responses, "responses")
  return {
    project = project,
    offer = offer,
    contact = input.contact,
    survey = survey,
    responses = #responses > 0 and responses or nil,
    response_count = #responses,
    status = #responses > 0 and "responses_received" or "sent",
    summary = string.format("%s: %d questions, due %s; %s", survey.id, #questions, survey.due_date,
      #responses > 0 and string.format("%d responses received", #responses) or "waiting for responses"),
  }
end

return agent
