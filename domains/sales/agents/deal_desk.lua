-- Deal Desk: moves a deal through its stages to closed_won or closed_lost (sales.manage_deal,
-- handed over by handoffs/proposal_to_deal.lua or posted by staff with stage updates).
--
-- Stages, in order: qualified -> proposal -> negotiation -> closed_won; closed_lost from any open
-- stage. Rules (deterministic), applied to each update in order; an update that breaks one is not
-- applied and is listed in rejected_updates with the reason:
--   - a closed deal does not change any more;
--   - no going back (negotiation -> proposal is refused); skipping forward is allowed;
--   - proposal, negotiation and closed_won need a proposal (deal.proposal_id or the update's);
--   - closed_won only from proposal or negotiation, with value > 0 and signed_on (a date);
--   - closed_lost needs a lost_reason.
-- No updates given: the stage is decided from the proposal, so a workflow runs on its own:
--   rejected at approval -> closed_lost; pending approval -> stays at proposal;
--   ready/approved and within the budget -> closed_won (signed on as_of, default today);
--   over the budget -> closed_lost; budget unknown -> negotiation (open: staff post the outcome).
-- summary: one line of rules ("D-acme-2: proposal -> closed_won, 8000 USD signed 2026-03-10").
-- llm.chat writes the narrative and next steps (templates/deal_summary.txt); when the model is
-- unavailable for good (budget, bad key) they are left out, the stage does not depend on them.
-- Handoffs: closed_won -> fulfillment.plan_project, closed_lost -> marketing.nurture_lead.

local RANK = { qualified = 1, proposal = 2, negotiation = 3, closed_won = 4, closed_lost = 4 }
local CLOSED = { closed_won = "won", closed_lost = "lost" }

local function money(x)
  local i = math.tointeger(x)
  if i then return tostring(i) end
  return string.format("%.2f", x)
end

local function str(v) return type(v) == "string" and v ~= "" and v or nil end
local function num(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge and v or nil end

local function slugify(s)
  local slug = s:lower():gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
  return slug:sub(1, 40)
end

local function cut(s, max) -- at most max UTF-8 characters
  if utf8.len(s) == nil or utf8.len(s) <= max then return s end
  return s:sub(1, utf8.offset(s, max + 1) - 1)
end

-- Pure: applies update u to deal (changed in place when accepted). Returns true, or false and why.
local function apply_update(deal, u, as_of)
  local from, to = deal.stage, u.stage
  if CLOSED[from] then return false, "the deal is already " .. from end
  if RANK[to] == nil then return false, "unknown stage " .. tostring(to) end
  if to ~= "closed_lost" and RANK[to] < RANK[from] then
    return false, string.format("cannot move back from %s to %s", from, to)
  end
  local proposal_id = str(u.proposal_id) or deal.proposal_id
  if (to == "proposal" or to == "negotiation" or to == "closed_won") and not proposal_id then
    return false, to .. " needs a proposal (proposal_id)"
  end
  local value, signed_on = num(u.value) or deal.value, str(u.signed_on) or deal.signed_on
  if to == "closed_won" then
    if RANK[from] < RANK.proposal then return false, "closed_won only from proposal or negotiation, not " .. from end
    local missing = {}
    if not (value and value > 0) then missing[#missing + 1] = "value > 0" end
    if not signed_on then missing[#missing + 1] = "signed_on" end
    if #missing > 0 then return false, "closed_won needs " .. table.concat(missing, " and ") end
  end
  if to == "closed_lost" and not str(u.lost_reason) then return false, "closed_lost needs a lost_reason" end
  deal.stage = to
  deal.proposal_id = proposal_id
  deal.value = value
  if to == "closed_won" then deal.signed_on = signed_on end
  if to == "closed_lost" then deal.lost_reason = u.lost_reason; deal.lost_on = str(u.on) or as_of end
  return true
end

-- Pure: the updates a proposal implies when none are given. Returns updates, why.
local function updates_from_proposal(deal, proposal, as_of)
  if type(proposal) ~= "table" then return {}, "no updates and no proposal: nothing to decide" end
  local ups = {}
  if RANK[deal.stage] < RANK.proposal then ups[1] = { stage = "proposal", proposal_id = proposal.id, on = as_of } end
  local status = proposal.status
  if status == "rejected" then
    ups[#ups + 1] = { stage = "closed_lost", on = as_of, lost_reason = cut("proposal rejected at internal approval"
      .. (str(proposal.comment) and (": " .. proposal.comment) or ""), 500) }
    return ups, "the proposal was rejected at approval"
  end
  if status == "pending_approval" then return ups, "the proposal waits for approval" end
  local value = num(proposal.value) or deal.value
  local fits = proposal.fits_budget
  if type(fits) ~= "boolean" then
    fits = nil
    if value and deal.budget then fits = value <= deal.budget end
  end
  if fits == true then
    ups[#ups + 1] = { stage = "closed_won", value = value, signed_on = as_of, on = as_of }
    return ups, "the proposal (" .. status .. ") is within the budget"
  elseif fits == false then
    ups[#ups + 1] = { stage = "closed_lost", on = as_of, lost_reason = string.format("price %s above the budget %s",
      value and money(value) or "?", deal.budget and money(deal.budget) or "?") }
    return ups, "the proposal is over the budget"
  end
  ups[#ups + 1] = { stage = "negotiation", on = as_of, note = "budget unknown: confirm it with the client" }
  return ups, "the budget is unknown: negotiation until staff post the outcome"
end

-- Pure: the result's one-line summary (rules only), e.g. "D-acme-2: proposal -> closed_won, 8000 USD signed
-- 2026-03-10" or "D-acme-2: proposal -> closed_lost: price 15000 above the budget 10000".
local function one_line(r)
  local deal = r.deal
  local value = deal.value and (money(deal.value) .. " " .. deal.currency) or "value unknown"
  local line
  if r.stage == r.from_stage and not r.history then
    line = string.format("%s: stays %s (%s)", deal.id, r.stage, r.reason or "no change")
  elseif r.stage == "closed_won" then
    line = string.format("%s: %s -> closed_won, %s signed %s", deal.id, r.from_stage, value, tostring(deal.signed_on))
  elseif r.stage == "closed_lost" then
    line = string.format("%s: %s -> closed_lost: %s", deal.id, r.from_stage, tostring(deal.lost_reason))
  else
    line = string.format("%s: %s -> %s, %s open (%s)", deal.id, r.from_stage, r.stage, value, r.reason or "stage updates")
  end
  local refused = r.rejected_updates and #r.rejected_updates or 0
  if refused > 0 then
    line = line .. string.format("; %d update%s refused", refused, refused == 1 and "" or "s")
  end
  return line
end

-- Pure: the whole decision. input = the task input; returns the result (with its summary) without the words.
local function decide(input, as_of)
  local d = input.deal
  local deal = {
    client = d.client, contact_email = d.contact_email, contact_name = str(d.contact_name),
    value = num(d.value), currency = str(d.currency) or "USD", tier = str(d.tier), offer = str(d.offer),
    offer_slug = str(d.offer_slug), offer_version = math.tointeger(d.offer_version),
    budget = num(d.budget), stage = str(d.stage) or "qualified", proposal_id = str(d.proposal_id),
    deliverables = type(d.deliverables) == "table" and #d.deliverables > 0 and d.deliverables or nil,
    lead_score = num(d.lead_score), signed_on = str(d.signed_on),
  }
  local proposal = type(input.proposal) == "table" and input.proposal or nil
  if proposal and not deal.proposal_id then deal.proposal_id = str(proposal.id) end
  deal.id = str(d.id) or ("D-" .. (deal.proposal_id and deal.proposal_id:gsub("^P%-", "") or slugify(deal.client)))
  local from = deal.stage

  local updates, decided_by, why = input.updates, "updates", "staff posted stage updates"
  if type(updates) ~= "table" or #updates == 0 then
    updates, why = updates_from_proposal(deal, proposal, as_of)
    decided_by = proposal and "proposal" or "none"
  end
  local history, rejected = {}, {}
  for i, u in ipairs(updates) do
    local before = deal.stage
    local ok, reason = apply_update(deal, u, as_of)
    if ok then
      history[#history + 1] = { from = before, to = deal.stage, on = str(u.on) or as_of, note = str(u.note) }
    else
      rejected[#rejected + 1] = { index = i - 1, stage = u.stage, reason = reason }
    end
  end
  local r = {
    deal = deal,
    stage = deal.stage,
    from_stage = from,
    status = CLOSED[deal.stage] or "open",
    decided_by = decided_by,
    reason = why,
    history = #history > 0 and history or nil,
    rejected_updates = #rejected > 0 and rejected or nil,
  }
  r.summary = one_line(r)
  return r
end

local SUMMARY_SCHEMA = {
  type = "object",
  required = { "summary", "next_steps" },
  properties = {
    summary = { type = "string", minLength = 10, maxLength = 800 },
    next_steps = { type = "array", minItems = 1, maxItems = 3, items = { type = "string", minLength = 3, maxLength = 200 } },
  },
}

local agent = {
  name = "Deal Desk",
  capabilities = { "deal_management", "pipeline" },
  tools = { "crm_lookup" },
  decide = decide, apply_update = apply_update, -- pure, for tests
}

function agent.run(task, ctx)
  local input = task.input
  if type(input) ~= "table" or type(input.deal) ~= "table" or not str(input.deal.client)
      or not str(input.deal.contact_email) then
    error("deal_desk: task.input.deal with client and contact_email is required")
  end
  local as_of = str(input.as_of) or time.iso():sub(1, 10)
  local r = decide(input, as_of)
  local deal = r.deal

  local lines = {}
  for _, h in ipairs(r.history or {}) do
    lines[#lines + 1] = string.format("- %s: %s -> %s%s", h.on, h.from, h.to, h.note and (" (" .. h.note .. ")") or "")
  end
  for _, x in ipairs(r.rejected_updates or {}) do
    lines[#lines + 1] = string.format("- update %d to %s refused: %s", x.index, tostring(x.stage), x.reason)
  end
  local ok, reply = pcall(llm.chat, {
    system = "You are a sales operations analyst at a digital agency. Be brief and concrete.",
    prompt = ctx.template("deal_summary", {
      client = deal.client, contact = deal.contact_email, offer = deal.offer or "(offer not named)",
      tier = deal.tier or "-", value = deal.value and money(deal.value) or "?", currency = deal.currency,
      from_stage = r.from_stage, stage = r.stage, decided_by = r.reason or "stage updates",
      history = #lines > 0 and table.concat(lines, "\n") or "- no change",
      lost_reason = deal.lost_reason and ("Lost because: " .. deal.lost_reason) or "",
    }),
    schema = SUMMARY_SCHEMA,
    max_tokens = 400,
  })
  if ok then
    r.narrative, r.next_steps = reply.data.summary, reply.data.next_steps
  elseif type(reply) == "table" and reply.retryable then
    error(reply) -- a transient failure: let the queue retry the task
  else
    log.warn("deal_desk: no narrative from the model", type(reply) == "table" and reply.code or tostring(reply))
  end

  memory.set("deal:" .. deal.contact_email:lower(), { id = deal.id, stage = deal.stage, value = deal.value,
                                                       currency = deal.currency, at = time.now() })
  log.info("deal", deal.id, r.from_stage, "->", r.stage)
  return r
end

return agent
