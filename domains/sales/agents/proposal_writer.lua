-- Proposal Writer: a qualified lead plus an offer spec -> a proposal with the right tier
-- (sales.write_proposal, handed over by handoffs/qualified_to_proposal.lua).
--
-- Deterministic (rules):
--   offer   input.offer (a spec with tiers), else the offer domain's memory for input.offer_slug
--           (offer:<slug>:latest, offer:<slug>:v<N>), else the agency's default catalogue below.
--   tier    the most expensive tier whose price fits the lead's budget, after the discount the lead's
--           tier allows (hot 10%, warm 5%, cold 0%): each tier is priced by tools/deal_pricing.lua,
--           called with ctx.tool; no tier fits -> the entry tier at list price (fits_budget = false);
--           budget unknown -> the entry tier.
--   value   the tier's price after that discount.
--   approval  value > approval_threshold (config.lua, 25000) -> task.approve{reason=, data=}: the task
--           waits for a human; approved -> status "approved", rejected -> status "rejected" (the
--           proposal is returned, marked rejected, with the reviewer's comment). Within the threshold
--           -> status "ready". Outside a task (agency run) the engine auto-approves (approval.auto).
-- summary (the result's): one line of rules, "P-acme-2: Growth tier at 8000 USD (fits the 9000 budget),
-- ready" (the id names the client); the proposal's own summary (proposal.summary) is the model's.
-- llm.chat writes the words (title, summary, sections) from templates/proposal.txt; the model may
-- look the contact up with crm_lookup. Everything before task.approve is deterministic (the llm.chat
-- answer is replayed from the journal when the task runs again after the decision); memory is
-- written only after it.

local DEFAULTS = {                       -- = config.lua
  currency = "USD",
  approval_threshold = 25000,
  max_discount_pct = { hot = 10, warm = 5, cold = 0 },
}

-- Used when the lead came with no offer.
local DEFAULT_OFFER = {
  name = "Growth Marketing Retainer",
  slug = "growth-marketing-retainer",
  currency = "USD",
  tiers = {
    { name = "Starter", price = 6000,
      includes = { "Marketing audit", "90-day channel plan", "Monthly report" } },
    { name = "Growth", price = 15000,
      includes = { "Marketing audit", "90-day channel plan", "Monthly report", "8 content pieces a month",
                   "Paid campaign management" } },
    { name = "Scale", price = 40000,
      includes = { "Marketing audit", "90-day channel plan", "Monthly report", "8 content pieces a month",
                   "Paid campaign management", "Marketing automation build", "Dedicated account lead" } },
  },
}

-- task.approve is the global `task`; inside run(task, ctx) the parameter hides it, so keep a handle.
local approvals = task

local function money(x)
  local i = math.tointeger(x)
  if i then return tostring(i) end
  return string.format("%.2f", x)
end

local function slugify(s)
  local slug = s:lower():gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
  return slug:sub(1, 40)
end

local function str(v) return type(v) == "string" and v ~= "" and v or nil end
local function num(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge and v or nil end

local function strings(list)
  local out = {}
  for _, v in ipairs(type(list) == "table" and list or {}) do
    if type(v) == "string" and v ~= "" then out[#out + 1] = v end
  end
  return out
end

-- The domain settings: ctx.config when the engine passes it, else the defaults (= config.lua).
local function settings(ctx)
  local cfg = type(ctx) == "table" and type(ctx.config) == "table" and ctx.config or {}
  local max = type(cfg.max_discount_pct) == "table" and cfg.max_discount_pct or DEFAULTS.max_discount_pct
  return {
    currency = str(cfg.currency) or DEFAULTS.currency,
    approval_threshold = num(cfg.approval_threshold) or DEFAULTS.approval_threshold,
    max_discount_pct = max,
  }
end

-- An offer spec with its tiers sorted by price (ascending), each with `includes`.
local function normalize_offer(spec, source)
  local tiers = {}
  for _, t in ipairs(type(spec.tiers) == "table" and spec.tiers or {}) do
    if type(t) == "table" and str(t.name) and num(t.price) and t.price >= 0 then
      local inc = strings(t.includes)
      if #inc == 0 then inc = strings(t.deliverables) end
      if #inc == 0 then inc = strings(spec.deliverables) end
      tiers[#tiers + 1] = { name = t.name, price = t.price, includes = inc }
    end
  end
  if #tiers == 0 then return nil end
  table.sort(tiers, function(a, b)
    if a.price ~= b.price then return a.price < b.price end
    return a.name < b.name
  end)
  return { name = str(spec.name) or "Offer", slug = str(spec.slug), version = math.tointeger(spec.version),
           currency = str(spec.currency), tiers = tiers, guarantees = strings(spec.guarantees), source = source }
end

local function find_offer(input, reasons)
  if type(input.offer) == "table" then
    local o = normalize_offer(input.offer, "input")
    if o then return o end
    reasons[#reasons + 1] = "input.offer has no priced tiers: looked further"
  end
  local slug = str(input.offer_slug) or (type(input.offer) == "table" and str(input.offer.slug)) or nil
  if slug then
    local v = memory.get("offer:" .. slug .. ":latest", { domain = "offer" })
    local spec = math.tointeger(v) and memory.get("offer:" .. slug .. ":v" .. math.tointeger(v), { domain = "offer" })
    local o = type(spec) == "table" and normalize_offer(spec, "offer memory") or nil
    if o then return o end
    reasons[#reasons + 1] = "offer '" .. slug .. "' not found in the offer domain: the default catalogue"
  end
  return normalize_offer(DEFAULT_OFFER, "default catalogue")
end

local function lead_tier_of(lead)
  if lead.tier == "hot" or lead.tier == "warm" or lead.tier == "cold" then return lead.tier end
  local s = num(lead.score)
  if s == nil then return "cold" end
  return (s >= 80 and "hot") or (s >= 60 and "warm") or "cold"
end

-- The tier for a budget, each tier priced by the deal_pricing tool (ctx.tool). Returns tier, pricing, reason.
local function pick_tier(tiers, budget, lead_tier, cfg, ctx)
  local function price(t)
    return ctx.tool("deal_pricing", { list_price = t.price, budget = budget, lead_tier = lead_tier,
                                      approval_threshold = cfg.approval_threshold,
                                      max_discount_pct = cfg.max_discount_pct[lead_tier] or 0 })
  end
  if budget == nil then
    return tiers[1], price(tiers[1]), "budget unknown: the entry tier " .. tiers[1].name
  end
  for i = #tiers, 1, -1 do
    local r = price(tiers[i])
    if r.fits_budget then
      return tiers[i], r, string.format("%s: the largest tier that fits the budget %s", tiers[i].name, money(budget))
    end
  end
  return tiers[1], price(tiers[1]),
    string.format("no tier fits the budget %s: the entry tier %s at list price", money(budget), tiers[1].name)
end

local function bullets(list)
  if #list == 0 then return "- (see the offer)" end
  return "- " .. table.concat(list, "\n- ")
end

-- Pure: the result's one-line summary (rules only; the model's words are in proposal.summary/sections), e.g.
-- "P-acme-2: Growth tier at 8000 USD (fits the 9000 budget), ready". The id is made of the client's name.
local function one_line(id, tier, pricing, budget, currency, status, approval)
  local price = string.format("%s tier at %s %s", tier.name, money(pricing.price), currency)
  local notes = {}
  if pricing.discount_pct > 0 then
    notes[#notes + 1] = string.format("%d%% off %s", pricing.discount_pct, money(tier.price))
  end
  if budget == nil then
    notes[#notes + 1] = "budget unknown"
  elseif pricing.fits_budget then
    notes[#notes + 1] = "fits the " .. money(budget) .. " budget"
  else
    notes[#notes + 1] = "over the " .. money(budget) .. " budget"
  end
  local state = status
  if approval.required then
    local by = str(approval.decided_by) and (" by " .. approval.decided_by) or ""
    local over = string.format(" (over the %s threshold)", money(approval.threshold))
    if approval.auto then
      state = "auto-approved" .. over
    elseif status == "approved" then
      state = "approved" .. by .. over
    else
      state = "rejected at approval" .. by .. over .. (str(approval.comment) and (": " .. approval.comment) or "")
    end
  end
  return string.format("%s: %s (%s), %s", id, price, table.concat(notes, ", "), state)
end

local PROPOSAL_SCHEMA = {
  type = "object",
  required = { "title", "summary", "sections" },
  properties = {
    title = { type = "string", minLength = 3, maxLength = 160 },
    summary = { type = "string", minLength = 10, maxLength = 1200 },
    sections = {
      type = "array", minItems = 1, maxItems = 5,
      items = {
        type = "object",
        required = { "heading", "body" },
        properties = {
          heading = { type = "string", minLength = 1, maxLength = 80 },
          body = { type = "string", minLength = 1, maxLength = 1500 },
        },
      },
    },
  },
}

local agent = {
  name = "Proposal Writer",
  capabilities = { "proposal_writing", "pricing", "approval" },
  tools = { "crm_lookup", "deal_pricing" },
  pick_tier = pick_tier, normalize_offer = normalize_offer, -- for tests
  DEFAULTS = DEFAULTS, DEFAULT_OFFER = DEFAULT_OFFER,
}

function agent.run(task, ctx)
  local input = task.input
  local lead = type(input) == "table" and input.lead or nil
  if type(lead) ~= "table" or not str(lead.email) or not str(lead.company) then
    error("proposal_writer: task.input.lead with email and company is required")
  end
  local cfg = settings(ctx)
  local reasons = {}
  local offer = find_offer(input, reasons)
  local currency = offer.currency or cfg.currency
  local budget = num(lead.budget)
  local lead_tier = lead_tier_of(lead)
  local tier, pricing, why = pick_tier(offer.tiers, budget, lead_tier, cfg, ctx)
  reasons[#reasons + 1] = string.format("offer %s (%s)", offer.name, offer.source)
  reasons[#reasons + 1] = why
  for _, r in ipairs(pricing.reasons) do reasons[#reasons + 1] = r end

  local email = lead.email:lower()
  local id = string.format("P-%s-%s", slugify(lead.company), tostring(task.id or 0))
  local timeline = num(lead.timeline_days)

  local reply = llm.chat{
    system = "You write B2B proposals for a digital agency: specific, short, no superlatives, "
      .. "and never change prices or scope.",
    prompt = ctx.template("proposal", {
      client = lead.company,
      contact = (str(lead.name) and (lead.name .. " <" .. lead.email .. ">")) or lead.email,
      offer = offer.name,
      tier = tier.name,
      price = money(pricing.price),
      currency = currency,
      discount_note = pricing.discount_pct > 0
        and string.format(" (list price %s, %d%% discount)", money(tier.price), pricing.discount_pct) or "",
      includes = bullets(tier.includes),
      score = num(lead.score) and money(lead.score) or "not scored",
      lead_tier = lead_tier,
      budget = budget and (money(budget) .. " " .. currency) or "unknown",
      authority = str(lead.authority) or "unknown",
      need = str(lead.need) or "unknown",
      timeline = timeline and (money(timeline) .. " days") or "unknown",
      notes = str(lead.notes) and ("Notes from the lead: " .. lead.notes .. "\n") or "",
    }),
    schema = PROPOSAL_SCHEMA,
    tools = ctx.tools,
    ctx = ctx,
    max_tokens = 1200,
  }
  local words = reply.data

  local status = "ready"
  local approval = { required = pricing.needs_approval, threshold = pricing.approval_threshold }
  if pricing.needs_approval then
    local d = approvals.approve{
      reason = string.format("Proposal %s for %s: %s %s (%s tier%s) is above the %s %s approval threshold",
        id, lead.company, money(pricing.price), currency, tier.name,
        pricing.discount_pct > 0 and string.format(", %d%% discount", pricing.discount_pct) or "",
        money(pricing.approval_threshold), currency),
      data = { proposal_id = id, client = lead.company, contact = lead.email, tier = tier.name,
               list_price = tier.price, discount_pct = pricing.discount_pct, value = pricing.price,
               currency = currency, budget = budget, threshold = pricing.approval_threshold,
               title = words.title, summary = words.summary },
    }
    approval.approved = d.approved == true
    approval.comment = d.comment
    approval.decided_by = d.decided_by
    approval.decided_at = d.decided_at
    approval.auto = d.auto
    status = approval.approved and "approved" or "rejected"
    reasons[#reasons + 1] = (d.auto and "auto-approved (not running as a task)")
      or (approval.approved and "approved" or "rejected") .. (str(d.decided_by) and (" by " .. d.decided_by) or "")
        .. (str(d.comment) and (": " .. d.comment) or "")
  end

  memory.set("proposal:" .. email, { id = id, tier = tier.name, value = pricing.price, currency = currency,
                                     status = status, at = time.now() })
  log.info("proposal", id, lead.company, tier.name, pricing.price, status)
  return {
    summary = one_line(id, tier, pricing, budget, currency, status, approval),
    proposal = {
      id = id,
      status = status,
      client = lead.company,
      contact = { email = lead.email, name = str(lead.name) },
      offer = { name = offer.name, slug = offer.slug, version = offer.version },
      tier = tier.name,
      includes = tier.includes,
      guarantees = #offer.guarantees > 0 and offer.guarantees or nil,
      list_price = tier.price,
      discount_pct = pricing.discount_pct,
      value = pricing.price,
      currency = currency,
      budget = budget,
      fits_budget = pricing.fits_budget,
      title = words.title,
      summary = words.summary,
      sections = words.sections,
      approval = approval,
    },
    lead = { email = lead.email, company = lead.company, name = str(lead.name), score = num(lead.score),
             tier = lead_tier, budget = budget, timeline_days = timeline },
    reasons = reasons,
  }
end

return agent
