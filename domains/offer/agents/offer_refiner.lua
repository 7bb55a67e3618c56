-- Offer Refiner: the previous offer spec plus insights from client feedback -> the next version of
-- the offer (offer.refine_offer, the target of the Feedback -> Offer handoff).
--
-- The base is the newest version in this domain's memory (offer:<slug>:latest), else the spec
-- carried in input.previous. The new version is latest + 1 and records where it came from:
--   refined_from = { version = <base version>, insights = { <insight ids> }, themes = { ... } }
-- It is stored as offer:<slug>:v<N> and offer:<slug>:latest = N. A re-run of the same task (retry,
-- recovery) returns the version it already made instead of making another.
--
-- Deterministic changes, one rule per feedback theme (negative or mixed insights):
--   communication  guarantee "weekly written status report + one named contact"; every tier includes it
--   timeline       one more week of delivery buffer (the delivery guarantee follows) and a milestone credit
--   pricing        entry tier price cut by feedback_price_cut (10%), never under the minimum margin
--   quality        every tier includes a senior QA review before hand-over
--   scope          a signed scope document with a change-request process (deliverable, every tier)
--   support        30 days of post-launch support from the second tier up
--   onboarding     an onboarding workshop in week 1, every tier
--   results        a monthly results report against agreed KPIs, every tier
-- Positive insights become proof points. Themes without a rule are listed in open_items for staff.
-- llm.chat rewrites the tagline and value proposition for the changes and summarises them.

-- Pricing policy when config.lua `pricing` (ctx.config) leaves a value out.
local DEFAULTS = { min_margin = 0.20, round_to = 50, feedback_price_cut = 0.10 }

local QA = "Senior QA review before every hand-over"
local RULES = {
  communication = { guarantee = "A written status report every Friday and one named point of contact",
                    include_all = "Weekly written status report" },
  timeline = { buffer_weeks = 1,
               guarantee = "Milestone dates fixed at kick-off; each missed milestone credits 5% of the fee" },
  pricing = { price_cut = true },
  quality = { include_all = QA },
  scope = { deliverable = "Signed scope document with a change-request process" },
  support = { include_from = 2, text = "30 days of post-launch support" },
  onboarding = { include_all = "Onboarding workshop in week 1" },
  results = { include_all = "Monthly results report against agreed KPIs" },
}

local function fail(msg) error("offer_refiner: " .. msg, 2) end

local function money(x)
  local i = math.tointeger(x)
  if i then return tostring(i) end
  return string.format("%.2f", x)
end

local function pct(x) return string.format("%d%%", math.floor(x * 100 + 0.5)) end

local function round_up(x, step)
  local r = math.ceil(x / step - 1e-9) * step
  return math.tointeger(r) or r
end

local function copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x) end
  return c
end

local function has(list, value)
  for _, v in ipairs(list) do
    if v == value then return true end
  end
  return false
end

local function add_once(list, value)
  if has(list, value) then return false end
  list[#list + 1] = value
  return true
end

local function check(input)
  if type(input) ~= "table" then fail("input must be an object") end
  local o = input.offer
  if type(o) ~= "table" or type(o.slug) ~= "string" or o.slug == "" then
    fail("input.offer.slug is required (which offer to refine)")
  end
  if math.type(math.tointeger(o.version)) ~= "integer" or o.version < 1 then
    fail("input.offer.version is required (an integer >= 1: the version the insights are about)")
  end
  if type(input.insights) ~= "table" or #input.insights == 0 then
    fail("input.insights is required (a non-empty list of {id, theme, count, recommendation})")
  end
  for i, ins in ipairs(input.insights) do
    if type(ins) ~= "table" or type(ins.theme) ~= "string" or ins.theme == "" then
      fail(string.format("input.insights[%d].theme is required", i - 1))
    end
  end
end

local function policy(ctx)
  local cfg = type(ctx) == "table" and type(ctx.config) == "table" and type(ctx.config.pricing) == "table"
    and ctx.config.pricing or {}
  local p = {}
  for k, v in pairs(DEFAULTS) do p[k] = type(cfg[k]) == "number" and cfg[k] or v end
  return p
end

local function insight_id(ins, slug)
  if type(ins.id) == "string" and ins.id ~= "" then return ins.id end
  return slug .. ":" .. ins.theme
end

-- Pure: applies the rules of the insights to a copy of base. Returns the new spec (without version
-- bookkeeping), the list of changes (strings) and the open items.
local function apply(base, insights, p)
  local spec = copy(base)
  spec.tiers = spec.tiers or {}
  spec.guarantees = spec.guarantees or {}
  spec.deliverables = spec.deliverables or {}
  local changes, open, proof = {}, {}, copy(spec.proof_points or {})
  local function include_all(text, from)
    local added = 0
    for i, t in ipairs(spec.tiers) do
      t.includes = t.includes or {}
      if i >= (from or 1) and add_once(t.includes, text) then added = added + 1 end
    end
    return added
  end
  for _, ins in ipairs(insights) do
    local theme, n = ins.theme, math.tointeger(ins.count) or 1
    local why = string.format("[%s, %d mention%s]", theme, n, n == 1 and "" or "s")
    local rule = RULES[theme]
    if ins.sentiment == "positive" then
      local prefix = "Clients praise our " .. theme .. " ("
      local point = string.format("%s%d mention%s)", prefix, n, n == 1 and "" or "s")
      local at = #proof + 1 -- one proof point per theme: a newer count replaces the older one
      for i, x in ipairs(proof) do
        if x:sub(1, #prefix) == prefix then at = i end
      end
      if proof[at] ~= point then
        changes[#changes + 1] = (proof[at] and "proof point updated: " or "proof point added: ") .. point
        proof[at] = point
      end
    elseif rule == nil then
      open[#open + 1] = { theme = theme, count = n, recommendation = ins.recommendation }
    else
      if rule.guarantee and add_once(spec.guarantees, rule.guarantee) then
        changes[#changes + 1] = string.format("guarantee added: %s %s", rule.guarantee, why)
      end
      if rule.include_all and include_all(rule.include_all) > 0 then
        changes[#changes + 1] = string.format("every tier now includes \"%s\" %s", rule.include_all, why)
      end
      if rule.include_from and include_all(rule.text, rule.include_from) > 0 then
        changes[#changes + 1] = string.format("tiers from %s up include \"%s\" %s",
          spec.tiers[rule.include_from] and spec.tiers[rule.include_from].name or "the second", rule.text, why)
      end
      if rule.deliverable and add_once(spec.deliverables, rule.deliverable) then
        include_all(rule.deliverable)
        changes[#changes + 1] = string.format("new deliverable in every tier: %s %s", rule.deliverable, why)
      end
      if rule.buffer_weeks then
        local old = math.tointeger(spec.delivery_weeks) or 6
        local new = old + rule.buffer_weeks
        spec.delivery_weeks = new
        for i, g in ipairs(spec.guarantees) do
          local pre, post = g:match("^(Delivered within )%d+( weeks.*)$")
          if pre then spec.guarantees[i] = pre .. new .. post end
        end
        changes[#changes + 1] = string.format("delivery planned in %d weeks instead of %d %s", new, old, why)
      end
      if rule.price_cut then
        local entry = spec.tiers[1]
        local priced = spec.pricing and spec.pricing.tiers and spec.pricing.tiers[1]
        local cost = priced and priced.cost
        if entry == nil or type(entry.price) ~= "number" then
          open[#open + 1] = { theme = theme, count = n, recommendation = "no entry tier price to adjust" }
        elseif type(cost) ~= "number" then
          open[#open + 1] = { theme = theme, count = n,
                              recommendation = "entry tier cost unknown: review the price by hand" }
        else
          local floor = cost / (1 - p.min_margin)
          local new = round_up(math.max(entry.price * (1 - p.feedback_price_cut), floor), p.round_to)
          if new < entry.price then
            local old = entry.price
            entry.price = new
            priced.price = new
            priced.margin = math.floor((new - cost) / new * 1000 + 0.5) / 1000
            priced.reasoning = priced.reasoning or {}
            priced.reasoning[#priced.reasoning + 1] = string.format(
              "feedback on pricing: cut %s, floored at the %s minimum margin: %s -> %s",
              pct(p.feedback_price_cut), pct(p.min_margin), money(old), money(new))
            local market = priced.market_median
            if type(market) == "number" then
              priced.position = (new < market * 0.95 and "below") or (new > market * 1.05 and "above") or "at"
            end
            changes[#changes + 1] = string.format("%s price %s -> %s, margin %s %s", entry.name, money(old),
              money(new), pct(priced.margin), why)
          else
            open[#open + 1] = { theme = theme, count = n,
                                recommendation = "entry tier already at the minimum margin: price unchanged" }
          end
        end
      end
    end
  end
  spec.proof_points = #proof > 0 and proof or nil
  return spec, changes, open
end

local WORDS_SCHEMA = {
  type = "object",
  required = { "tagline", "value_proposition", "change_note" },
  properties = {
    tagline = { type = "string", minLength = 3, maxLength = 120 },
    value_proposition = { type = "string", minLength = 10, maxLength = 800 },
    change_note = { type = "string", minLength = 1, maxLength = 1200 },
  },
}

local agent = {
  name = "Offer Refiner",
  capabilities = { "offer_design", "feedback_loop" },
  tools = {},
  apply = apply, -- pure, for tests
}

function agent.run(task, ctx)
  local input = task.input
  check(input)
  local slug = input.offer.slug
  local key = "offer:" .. slug
  local task_id = math.tointeger(ctx.task_id) or 0
  if task_id > 0 then -- a re-run of this task: hand back the version it made
    local made = memory.get(key .. ":refined_by:" .. task_id)
    local spec = made and memory.get(key .. ":v" .. math.tointeger(made))
    if spec then return spec end
  end

  local latest = math.tointeger(memory.get(key .. ":latest"))
  local base = latest and memory.get(key .. ":v" .. latest)
  if base == nil then
    base = input.previous
    if type(base) ~= "table" or base.slug ~= slug or math.tointeger(base.version) == nil then
      fail(string.format("offer '%s' not found: no %s:latest in memory and no previous spec (with slug "
        .. "and version) in input.previous", slug, key))
    end
  end
  local base_version = math.tointeger(base.version)
  local asked = math.tointeger(input.offer.version)

  local spec, changes, open = apply(base, input.insights, policy(ctx))
  local ids, themes = {}, {}
  for _, ins in ipairs(input.insights) do
    ids[#ids + 1] = insight_id(ins, slug)
    themes[#themes + 1] = ins.theme
  end

  local change_text = #changes > 0 and "- " .. table.concat(changes, "\n- ") or "(no rule applied)"
  local ok, reply = pcall(llm.chat, {
    system = "You maintain a digital agency's service offers. Plain words, concrete outcomes.",
    prompt = ctx.template("refine_offer", {
      offer = { name = tostring(spec.name), tagline = tostring(spec.tagline or ""),
                value_proposition = tostring(spec.value_proposition or "") },
      version = tostring(base_version), changes = change_text,
      feedback = "- " .. table.concat(themes, "\n- "),
    }),
    schema = WORDS_SCHEMA,
    max_tokens = 800,
  })
  if ok then
    spec.tagline, spec.value_proposition = reply.data.tagline, reply.data.value_proposition
    spec.change_note = reply.data.change_note
  else
    log.warn("offer_refiner: wording unchanged:", type(reply) == "table" and reply.code or tostring(reply))
    spec.change_note = nil
  end

  -- the version number: one more than anything seen (memory.incr makes concurrent refinements distinct)
  local n = math.max(latest or 0, base_version) + 1
  local seq = memory.incr(key .. ":seq")
  if seq >= n then n = seq else memory.set(key .. ":seq", n) end
  spec.version = n
  spec.status = "active"
  spec.created_at = time.iso()
  spec.refined_from = { version = base_version, insights = ids, themes = themes,
                        nps = type(input.nps) == "number" and input.nps or nil, task_id = task_id > 0 and task_id or nil }
  if asked and asked ~= base_version then
    spec.refined_from.requested_version = asked -- the insights were about an older version
  end
  spec.changes = #changes > 0 and changes or nil
  spec.summary = string.format("v%d from v%d on %s: %d change%s%s", n, base_version, table.concat(themes, ", "),
    #changes, #changes == 1 and "" or "s", #open > 0 and string.format(", %d open item%s", #open, #open == 1 and "" or "s") or "")
  spec.open_items = #open > 0 and open or nil

  memory.set(key .. ":v" .. n, spec)
  local now_latest = math.tointeger(memory.get(key .. ":latest"))
  if now_latest == nil or now_latest < n then memory.set(key .. ":latest", n) end
  if task_id > 0 then memory.set(key .. ":refined_by:" .. task_id, n) end
  log.info("refined offer", slug, "v" .. base_version, "->", "v" .. n, #changes, "changes")
  return spec
end

return agent
