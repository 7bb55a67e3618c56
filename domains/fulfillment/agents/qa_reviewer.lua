-- QA Reviewer: a project's deliverable checklists -> pass or fail with the missing items
-- (fulfillment.review_quality, handed over by handoffs/delivery_to_qa.lua when every milestone is
-- done). A project is completed only when QA passes.
--
-- Deterministic (rules): each deliverable must be delivered (completed_on) and have every check
-- of its checklist done: the agency's standard checks (acceptance_criteria, peer_review,
-- client_sign_off, documentation: required even when the checklist given omits them) plus the
-- deliverable's own checks_required. missing = required - done, standard ones first.
-- passed = every deliverable passed. Passed -> project.status = "completed" and completed_at
-- (input.as_of, else now); failed -> project.status = "in_qa" and the missing items, and no handoff.
-- summary: one line, "PRJ-acme-17: QA passed, 5 deliverables, completed 2026-05-08" or
-- "PRJ-acme-17: QA failed: 3 items missing (Website redesign)".
-- llm.chat writes the QA note (narrative) and recommendations (templates/qa_review.txt); the verdict
-- never depends on it.

local STANDARD_CHECKS = { "acceptance_criteria", "peer_review", "client_sign_off", "documentation" }

local function str(v) return type(v) == "string" and v ~= "" and v or nil end

local function strings(list)
  local out = {}
  for _, v in ipairs(type(list) == "table" and list or {}) do
    if type(v) == "string" and v ~= "" then out[#out + 1] = v end
  end
  return out
end

local function copy(t)
  if type(t) ~= "table" then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = copy(v) end
  return c
end

-- Pure: one deliverable's verdict.
local function review_one(d)
  local required, seen = {}, {}
  for _, list in ipairs({ STANDARD_CHECKS, strings(d.checks_required) }) do
    for _, c in ipairs(list) do
      if not seen[c] then seen[c] = true; required[#required + 1] = c end
    end
  end
  local done = {}
  for _, c in ipairs(strings(d.checks_done)) do done[c] = true end
  local missing, ndone = {}, 0
  if not str(d.completed_on) then missing[1] = "delivered" end
  for _, c in ipairs(required) do
    if done[c] then ndone = ndone + 1 else missing[#missing + 1] = c end
  end
  return { name = d.name, milestone = str(d.milestone), passed = #missing == 0,
           checks = #required, done = ndone, missing = #missing > 0 and missing or nil }
end

-- Pure: the review, without the words. now = the completion time when input.as_of is absent.
local function review(input, now)
  local results, passed, missing_total = {}, true, 0
  for i, d in ipairs(input.deliverables) do
    local r = review_one(d)
    results[i] = r
    passed = passed and r.passed
    missing_total = missing_total + (r.missing and #r.missing or 0)
  end
  local project = copy(input.project)
  local label = str(project.id) or str(project.name) or "project"
  local summary
  if passed then
    project.status = "completed"
    project.completed_at = str(input.as_of) or now
    summary = string.format("%s: QA passed, %d deliverable%s, completed %s", label, #results,
      #results == 1 and "" or "s", tostring(project.completed_at):sub(1, 10))
  else
    project.status = "in_qa"
    local failing = {}
    for _, r in ipairs(results) do
      if not r.passed then failing[#failing + 1] = tostring(r.name) end
    end
    summary = string.format("%s: QA failed: %d item%s missing (%s)", label, missing_total,
      missing_total == 1 and "" or "s", table.concat(failing, ", "))
  end
  return { summary = summary, passed = passed, verdict = passed and "pass" or "fail", project = project,
           deliverables = results, missing_total = missing_total, on_time = input.on_time, slip_days = input.slip_days }
end

local NOTE_SCHEMA = {
  type = "object",
  required = { "summary", "recommendations" },
  properties = {
    summary = { type = "string", minLength = 10, maxLength = 800 },
    recommendations = { type = "array", minItems = 1, maxItems = 3, items = { type = "string", minLength = 3, maxLength = 300 } },
  },
}

local agent = {
  name = "QA Reviewer",
  capabilities = { "quality_assurance", "acceptance" },
  tools = {},
  review = review, STANDARD_CHECKS = STANDARD_CHECKS, -- pure, for tests
}

function agent.run(task, ctx)
  local input = task.input
  if type(input) ~= "table" or type(input.project) ~= "table" or type(input.deliverables) ~= "table"
      or #input.deliverables == 0 then
    error("qa_reviewer: task.input needs project and deliverables")
  end
  local r = review(input, time.iso())

  local rows = {}
  for _, d in ipairs(r.deliverables) do
    rows[#rows + 1] = string.format("- %s: %s%s", d.name, d.passed and "pass" or "FAIL",
      d.missing and (", missing " .. table.concat(d.missing, ", ")) or "")
  end
  local ok, reply = pcall(llm.chat, {
    system = "You are the QA lead of a digital agency. Be specific about what is missing.",
    prompt = ctx.template("qa_review", {
      project = { name = tostring(r.project.name), client = tostring(r.project.client) },
      verdict = r.passed and "PASSED" or string.format("FAILED (%d items missing)", r.missing_total),
      deliverables = table.concat(rows, "\n"),
    }),
    schema = NOTE_SCHEMA,
    max_tokens = 400,
  })
  if ok then
    r.narrative, r.recommendations = reply.data.summary, reply.data.recommendations
  elseif type(reply) == "table" and reply.retryable then
    error(reply)
  else
    log.warn("qa_reviewer: no note from the model", type(reply) == "table" and reply.code or tostring(reply))
  end

  if str(r.project.id) then
    memory.set("project:" .. r.project.id, { status = r.project.status, qa = r.verdict, missing = r.missing_total,
                                             completed_at = r.project.completed_at, at = time.now() })
  end
  log.info("QA", tostring(r.project.id), r.verdict, r.missing_total, "missing")
  return r
end

return agent
