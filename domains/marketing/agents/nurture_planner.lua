-- Nurture Planner: a lost deal -> a nurture sequence that keeps the contact warm until it is worth
-- another try (marketing.nurture_lead, the target of the sales domain's Sales -> Marketing handoff
-- domains/sales/handoffs/lost_to_nurture.lua).
--
-- Deterministic: why the deal was lost (price, timing, competitor, no_response, other, from the words
-- of lost_reason); the touch dates, counted from the day it was lost: day 7, then every 30 days
-- before nurture_in_days, and the re-engagement on day nurture_in_days (default 30), a weekend date
-- moved to the Monday (tools/calendar.lua, called with ctx.tool); what each touch
-- is for (by the reason). A deal lost on price gets, as its second touch, the entry tier of the
-- offer's newest version (read from the offer domain's memory, offer:<slug>:latest, by name).
-- llm.chat writes each email's subject and body (optional: without it the touches keep their purpose).

local DEFAULT_DAYS = 30
local MAX_TOUCHES = 12
local REASONS = { -- checked in order, words of the lower-cased lost_reason
  { "price", { "price", "pric", "budget", "expensive", "cost", "afford", "cheaper" } },
  { "timing", { "timing", "later", "next quarter", "next year", "not now", "priorit", "freeze", "pause", "postpone" } },
  { "competitor", { "competitor", "chose", "another agency", "in-house", "in house", "went with", "other agency" } },
  { "no_response", { "ghost", "no response", "unresponsive", "went quiet", "silent", "no reply" } },
}
local PURPOSES = {
  price = { "Thank you, and a case study with the return similar clients saw",
            "A lighter way to start: %s",
            "A practical guide on the problem they wanted to solve" },
  timing = { "Thank you, and a resource worth keeping", "An industry insight for when the time is right" },
  competitor = { "Thank you, and a resource worth keeping whoever they work with" },
  no_response = { "A short, no-pressure note with one useful resource" },
  other = { "Thank you, and a resource worth keeping", "Something useful for their team" },
}
local REENGAGE = {
  price = "Check in: budgets for the next quarter, and what is new in the offer",
  timing = "Check in: is now a better time?",
  competitor = "Check in: how is it going with the current partner?",
  no_response = "Check in: one question, easy to answer",
  other = "Check in: what would make another conversation worthwhile?",
}

local function fail(msg) error("nurture_planner: " .. msg, 2) end

-- "2026-03-04", also the date of a date-time; the dates themselves come from tools/calendar.lua.
local function date_of(s) return type(s) == "string" and s:match("^%d%d%d%d%-%d%d%-%d%d") or nil end

local function money(x)
  local i = math.tointeger(x)
  if i then return tostring(i) end
  return string.format("%.2f", x)
end

-- Pure: the reason category of a lost_reason.
local function category(reason)
  if type(reason) ~= "string" then return "other" end
  local r = reason:lower()
  for _, rule in ipairs(REASONS) do
    for _, w in ipairs(rule[2]) do
      if r:find(w, 1, true) then return rule[1] end
    end
  end
  return "other"
end

-- Pure: the touch days (offsets from the day lost) for a nurture period.
local function touch_days(period)
  local days = {}
  if 7 < period then days[#days + 1] = 7 end
  local d = 30
  while d < period and #days < MAX_TOUCHES - 1 do
    days[#days + 1] = d
    d = d + 30
  end
  days[#days + 1] = period
  return days
end

local function entry_tier(slug)
  if type(slug) ~= "string" then return nil end
  local ok, latest = pcall(memory.get, "offer:" .. slug .. ":latest", { domain = "offer" })
  latest = ok and math.tointeger(latest) or nil
  if not latest then return nil end
  local ok2, spec = pcall(memory.get, "offer:" .. slug .. ":v" .. latest, { domain = "offer" })
  if not ok2 or type(spec) ~= "table" or spec.slug ~= slug or type(spec.tiers) ~= "table" then return nil end
  local t = spec.tiers[1]
  if type(t) ~= "table" or type(t.price) ~= "number" then return nil end
  return { name = t.name, price = t.price, currency = spec.currency or "USD", version = latest }
end

local agent = {
  name = "Nurture Planner",
  capabilities = { "nurturing", "email" },
  tools = {},
  category = category, touch_days = touch_days, -- pure, for tests
}

function agent.run(task, ctx)
  local lead = task.input
  if type(lead) ~= "table" then fail("input must be an object (a lost deal's contact)") end
  if type(lead.email) ~= "string" or not lead.email:find("^[^@%s]+@[^@%s]+%.[^@%s]+$") then
    fail("input.email is required (a valid email address)")
  end
  if type(lead.company) ~= "string" or lead.company == "" then fail("input.company is required") end
  if lead.lost_on ~= nil and date_of(lead.lost_on) == nil then fail("input.lost_on must be a date like 2026-03-04") end
  local period = math.tointeger(lead.nurture_in_days) or DEFAULT_DAYS
  if period < 7 then fail("input.nurture_in_days must be at least 7") end

  local cat = category(lead.lost_reason)
  local tier = cat == "price" and entry_tier(lead.offer_slug) or nil
  local lighter = tier and string.format("the %s tier at %s %s", tostring(tier.name), money(tier.price), tier.currency)
    or "a smaller first project"

  local days = touch_days(period)
  local dates = ctx.tool("calendar", { date = date_of(lead.lost_on) or time.iso():sub(1, 10), offsets = days,
                                       weekends = "monday" }).dates
  local purposes = PURPOSES[cat]
  local sequence = {}
  for i, d in ipairs(days) do
    local purpose
    if i == #days then purpose = REENGAGE[cat]
    else purpose = string.format(purposes[(i - 1) % #purposes + 1], lighter) end
    sequence[i] = { step = i, day = d, date = dates[i].date, weekday = dates[i].weekday, channel = "email",
                    purpose = purpose, reengage = i == #days or nil }
  end

  local lines = {}
  for i, s in ipairs(sequence) do lines[i] = string.format("%d. day %d: %s", i, s.day, s.purpose) end
  local ok, reply = pcall(llm.chat, {
    system = "You write short, respectful follow-up emails for a digital agency. No pressure, no fake urgency.",
    prompt = ctx.template("nurture_email", {
      lead = { name = tostring(lead.name or "there"), company = lead.company },
      offer = tostring(lead.offer or lead.offer_slug or "our services"),
      reason = tostring(lead.lost_reason or "not given"),
      steps = table.concat(lines, "\n"), count = tostring(#sequence),
    }),
    schema = { type = "object", required = { "emails" }, properties = { emails = {
      type = "array", minItems = #sequence, maxItems = #sequence,
      items = { type = "object", required = { "subject", "body" },
                properties = { subject = { type = "string", minLength = 3, maxLength = 78 },
                               body = { type = "string", minLength = 20, maxLength = 1500 } } } } } },
    max_tokens = 2500,
  })
  if ok then
    for i, e in ipairs(reply.data.emails) do sequence[i].subject, sequence[i].body = e.subject, e.body end
  else
    log.warn("nurture_planner: no email copy:", type(reply) == "table" and reply.code or tostring(reply))
  end

  local reengage_on = sequence[#sequence].date
  memory.set("nurture:" .. lead.email:lower(), { company = lead.company, category = cat, reengage_on = reengage_on,
                                                 deal_id = lead.deal_id, offer = lead.offer_slug })
  log.info("nurture planned", lead.email, cat, #sequence, "touches, re-engage on", reengage_on)
  return {
    email = lead.email, company = lead.company, name = lead.name, deal_id = lead.deal_id,
    lost_reason = lead.lost_reason, category = cat, reengage_on = reengage_on,
    offer = { name = lead.offer, slug = lead.offer_slug, entry_tier = tier },
    sequence = sequence,
    summary = string.format("%s (%s): lost on %s, %d emails, re-engage on %s", lead.email, lead.company, cat,
      #sequence, reengage_on),
  }
end

return agent
