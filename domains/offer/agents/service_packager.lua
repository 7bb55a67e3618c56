-- Service Packager: a service idea plus market insights -> a versioned offer spec
-- (offer.package_service, the entry of the offer domain).
--
-- Deterministic (rules): the slug, which deliverables each tier includes, the tier prices (the
-- agency's pricing rule, tools/price_calculator.lua, called with ctx.tool), the guarantees (agency policy unless the input sets
-- them), version = 1. llm.chat writes the words: tagline and value proposition, and the target
-- persona when the input has none.
-- The spec is stored in this domain's memory as offer:<slug>:v1, and offer:<slug>:latest = 1.
--
-- Tiers: by default Starter (x1 the base cost), Growth (x1.8), Scale (x3). Tier i of n includes the
-- first ceil(#deliverables * i / n) deliverables plus its own extras and those of the tiers below.
-- A tier's market reference is the competitors' median for an entry package times its multiplier.

-- Pricing policy when config.lua `pricing` (ctx.config) and the input leave a value out.
local DEFAULTS = { target_margin = 0.45, min_margin = 0.20, round_to = 50, tier_step = 0.15 }
local DEFAULT_TIERS = {
  { name = "Starter", cost_multiplier = 1, extras = {} },
  { name = "Growth", cost_multiplier = 1.8, extras = { "Monthly strategy call" } },
  { name = "Scale", cost_multiplier = 3, extras = { "Dedicated account lead", "Priority support (next business day)" } },
}
local SIZES = { "1-10", "11-50", "51-200", "201-1000", "1000+" }

local function fail(msg) error("service_packager: " .. msg, 2) end

local function money(x)
  local i = math.tointeger(x)
  if i then return tostring(i) end
  return string.format("%.2f", x)
end

local function median(list)
  local xs = {}
  for _, v in ipairs(list or {}) do
    if type(v) == "number" and v > 0 then xs[#xs + 1] = v end
  end
  if #xs == 0 then return nil end
  table.sort(xs)
  local mid = (#xs + 1) // 2
  if #xs % 2 == 1 then return xs[mid] end
  return (xs[mid] + xs[mid + 1]) / 2
end

local function slugify(s)
  local slug = s:lower():gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
  return slug:sub(1, 60):gsub("%-+$", "")
end

local function strings(list)
  local out = {}
  for _, v in ipairs(type(list) == "table" and list or {}) do
    if type(v) == "string" and v ~= "" then out[#out + 1] = v end
  end
  return out
end

local function nonempty(list) return #list > 0 and list or nil end -- {} would encode as an object

local function bullets(list, empty)
  if #list == 0 then return empty or "(none)" end
  return "- " .. table.concat(list, "\n- ")
end

-- Checks the fields the rules need (the task schema checks them too; `agency run` does not).
local function check(input)
  if type(input) ~= "table" then fail("input must be an object") end
  local s = input.service
  if type(s) ~= "table" then fail("input.service is required (an object with name and description)") end
  if type(s.name) ~= "string" or #s.name < 3 then fail("input.service.name is required (3+ characters)") end
  if type(s.description) ~= "string" or s.description == "" then fail("input.service.description is required") end
  if #strings(input.deliverables) == 0 then fail("input.deliverables is required (a non-empty list of strings)") end
  if type(input.base_cost) ~= "number" or input.base_cost <= 0 then
    fail("input.base_cost is required (the delivery cost of the entry tier, > 0)")
  end
  if input.tiers ~= nil then
    if type(input.tiers) ~= "table" or #input.tiers == 0 then fail("input.tiers must be a non-empty list") end
    for i, t in ipairs(input.tiers) do
      if type(t) ~= "table" or type(t.name) ~= "string" or t.name == "" then
        fail(string.format("input.tiers[%d].name is required", i - 1))
      end
      if type(t.cost_multiplier) ~= "number" or t.cost_multiplier < 1 then
        fail(string.format("input.tiers[%d].cost_multiplier must be a number >= 1", i - 1))
      end
    end
  end
end

local function policy(input, ctx)
  local cfg = type(ctx) == "table" and type(ctx.config) == "table" and type(ctx.config.pricing) == "table"
    and ctx.config.pricing or {}
  local p = {}
  for k, v in pairs(DEFAULTS) do
    local x = input[k]
    if type(x) ~= "number" then x = cfg[k] end
    p[k] = type(x) == "number" and x or v
  end
  return p
end

-- Tiers with their inclusions and prices (ctx.tool = the price calculator), and the pricing record.
local function build_tiers(input, p, ctx)
  local deliverables = strings(input.deliverables)
  local plan = input.tiers or DEFAULT_TIERS
  local entry_market = median(input.competitor_prices)
  local tiers, priced, extras, prev = {}, {}, {}, nil
  for i, t in ipairs(plan) do
    local includes = {}
    local k = math.ceil(#deliverables * i / #plan)
    for j = 1, k do includes[#includes + 1] = deliverables[j] end
    for _, e in ipairs(strings(t.extras)) do extras[#extras + 1] = e end
    for _, e in ipairs(extras) do includes[#includes + 1] = e end
    local cost = input.base_cost * t.cost_multiplier
    local market = entry_market and entry_market * t.cost_multiplier or nil
    local pt = ctx.tool("price_calculator", {
      cost = cost, target_margin = p.target_margin, min_margin = p.min_margin, tier_step = p.tier_step,
      round_to = p.round_to, previous_tier_price = prev, competitor_prices = market and { market } or nil,
    })
    pt.cost = cost
    if market and t.cost_multiplier ~= 1 then
      table.insert(pt.reasoning, 1, string.format("market reference: entry median %s x %s = %s",
        money(entry_market), money(t.cost_multiplier), money(market)))
    end
    pt.name = t.name
    prev = pt.price
    tiers[i] = { name = t.name, price = pt.price, includes = includes }
    priced[i] = pt
  end
  return tiers, { target_margin = p.target_margin, min_margin = p.min_margin, round_to = p.round_to,
                  tier_step = p.tier_step, market_median = entry_market, tiers = priced }
end

local function default_guarantees(weeks)
  return {
    string.format("Delivered within %d weeks of kick-off, or 10%% of the fee back", weeks),
    "Two revision rounds on every deliverable",
    "Cancel in the first 14 days and pay only for the work delivered",
  }
end

local function positioning_schema(with_persona)
  local s = {
    type = "object",
    required = { "tagline", "value_proposition" },
    properties = {
      tagline = { type = "string", minLength = 3, maxLength = 120 },
      value_proposition = { type = "string", minLength = 10, maxLength = 800 },
    },
  }
  if with_persona then
    s.required[#s.required + 1] = "persona"
    s.properties.persona = {
      type = "object",
      required = { "role", "company_size", "industries", "pains" },
      properties = {
        role = { type = "string", minLength = 2, maxLength = 80 },
        company_size = { type = "string", enum = SIZES },
        industries = { type = "array", minItems = 1, maxItems = 5, items = { type = "string", minLength = 2, maxLength = 60 } },
        pains = { type = "array", minItems = 1, maxItems = 5, items = { type = "string", minLength = 3, maxLength = 200 } },
      },
    }
  end
  return s
end

local agent = {
  name = "Service Packager",
  capabilities = { "offer_design", "packaging", "pricing" },
  tools = { "price_calculator" },
  slugify = slugify, -- pure, for tests
}

function agent.run(task, ctx)
  local input = task.input
  check(input)
  local service = input.service
  local slug = type(input.slug) == "string" and input.slug ~= "" and input.slug or slugify(service.name)
  if slug == "" then fail("cannot make a slug from service.name; set input.slug") end
  local latest = memory.get("offer:" .. slug .. ":latest")
  if type(latest) == "number" and latest > 1 then
    fail(string.format("offer '%s' already exists at v%d; refine it with offer.refine_offer", slug, latest))
  end

  local p = policy(input, ctx)
  local currency = input.currency or "USD"
  local tiers, pricing = build_tiers(input, p, ctx)
  local weeks = math.tointeger(service.delivery_weeks) or 6
  local persona = type(input.persona) == "table" and input.persona or nil
  local insights = strings(input.insights)

  local tier_lines = {}
  for _, t in ipairs(tiers) do
    tier_lines[#tier_lines + 1] = string.format("%s (%s %s): %s", t.name, money(t.price), currency,
      table.concat(t.includes, "; "))
  end
  local reply = llm.chat{
    system = "You write positioning for a digital agency's service offers: plain words, concrete outcomes, "
      .. "no superlatives.",
    prompt = ctx.template("package_service", {
      service = { name = service.name, description = service.description },
      deliverables = bullets(strings(input.deliverables)),
      tiers = bullets(tier_lines),
      persona = persona and string.format("%s at %s-employee companies in %s", tostring(persona.role),
        tostring(persona.company_size or "any size"), table.concat(strings(persona.industries), ", "))
        or "(not given: propose one)",
      insights = bullets(insights, "(none)"),
      persona_request = persona and "" or ", and the target persona (role, company size, industries, pains)",
    }),
    schema = positioning_schema(persona == nil),
    max_tokens = 800,
  }
  local words = reply.data
  persona = persona or words.persona

  local spec = {
    slug = slug,
    name = service.name,
    version = 1,
    status = "active",
    category = service.category,
    description = service.description,
    tagline = words.tagline,
    value_proposition = words.value_proposition,
    persona = {
      role = persona.role,
      company_size = persona.company_size,
      industries = strings(persona.industries),
      pains = nonempty(strings(persona.pains)),
    },
    deliverables = strings(input.deliverables),
    delivery_weeks = weeks,
    currency = currency,
    tiers = tiers,
    guarantees = #strings(input.guarantees) > 0 and strings(input.guarantees) or default_guarantees(weeks),
    pricing = pricing,
    insights = nonempty(insights),
    created_at = time.iso(),
  }
  local prices = {}
  for i, t in ipairs(tiers) do prices[i] = string.format("%s %s", t.name, money(t.price)) end
  spec.summary = string.format("%s v1: %s %s", service.name, table.concat(prices, ", "), currency)
  memory.set("offer:" .. slug .. ":v1", spec)
  memory.set("offer:" .. slug .. ":latest", 1)
  memory.set("offer:" .. slug .. ":seq", 1) -- version numbers for offer.refine_offer
  log.info("packaged offer", slug, "v1", #tiers, "tiers")
  return spec
end

return agent
