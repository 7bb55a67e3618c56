-- channel_budget: split a campaign budget over marketing channels with the agency's cost table. The
-- one place the table lives: the campaign planner calls it with ctx.tool, and a model can call it.
--
-- Rule: start from the channel mix for the persona's company size; drop channels whose share is
-- under their minimum spend and give their weight to the others; round each share down to 50 and
-- add the remainder to the largest; expected leads = floor(budget / cost per lead).

local CHANNELS = {
  linkedin_ads  = { label = "LinkedIn Ads", cpl = 90, min_budget = 1000 },
  google_search = { label = "Google Search Ads", cpl = 65, min_budget = 800 },
  content_seo   = { label = "Content & SEO", cpl = 35, min_budget = 500 },
  email         = { label = "Email nurture", cpl = 12, min_budget = 200 },
  webinars      = { label = "Webinars", cpl = 45, min_budget = 600 },
  partnerships  = { label = "Partner co-marketing", cpl = 50, min_budget = 500 },
  events        = { label = "Industry events", cpl = 160, min_budget = 3000 },
}
local SMALL = { google_search = 0.30, content_seo = 0.25, email = 0.15, linkedin_ads = 0.15, partnerships = 0.15 }
local MID = { linkedin_ads = 0.30, content_seo = 0.20, google_search = 0.20, webinars = 0.15, email = 0.15 }
local LARGE = { linkedin_ads = 0.30, events = 0.25, webinars = 0.20, content_seo = 0.15, email = 0.10 }
local MIX = { ["1-10"] = SMALL, ["11-50"] = SMALL, ["51-200"] = MID, ["201-1000"] = LARGE, ["1000+"] = LARGE }

local names = {}
for k in pairs(CHANNELS) do names[#names + 1] = k end
table.sort(names)

local function allocate(budget, size, only)
  local weights = {}
  for ch, w in pairs(MIX[size] or MID) do weights[ch] = w end
  if only and #only > 0 then
    local keep = {}
    for _, ch in ipairs(only) do keep[ch] = true end
    for ch in pairs(weights) do
      if not keep[ch] then weights[ch] = nil end
    end
    for ch in pairs(keep) do -- a requested channel outside the mix gets the smallest weight
      if weights[ch] == nil and CHANNELS[ch] then weights[ch] = 0.10 end
    end
  end
  local dropped, candidates = {}, {}
  for ch in pairs(weights) do candidates[#candidates + 1] = ch end
  table.sort(candidates)
  while true do
    local total, worst, worst_gap = 0, nil, 0
    for _, ch in ipairs(names) do total = total + (weights[ch] or 0) end -- in a fixed order: sums of floats
    if total == 0 then break end
    for _, ch in ipairs(names) do
      local w = weights[ch]
      if w then
        local gap = CHANNELS[ch].min_budget - budget * w / total
        if gap > worst_gap then worst, worst_gap = ch, gap end
      end
    end
    if worst == nil then break end
    dropped[#dropped + 1] = worst
    weights[worst] = nil
  end
  local total = 0
  for _, ch in ipairs(names) do total = total + (weights[ch] or 0) end
  if total == 0 and #candidates > 0 then -- too small for every channel: all of it on the cheapest to start
    local cheapest = candidates[1]
    for _, ch in ipairs(candidates) do
      if CHANNELS[ch].min_budget < CHANNELS[cheapest].min_budget then cheapest = ch end
    end
    weights[cheapest], total = 1, 1
    for i, ch in ipairs(dropped) do
      if ch == cheapest then table.remove(dropped, i) break end
    end
  end
  local out, spent, expected = {}, 0, 0
  for _, ch in ipairs(names) do
    local w = weights[ch]
    if w then
      local b = math.floor(budget * w / total / 50) * 50
      out[#out + 1] = { channel = ch, label = CHANNELS[ch].label, share = w / total, budget = b, cpl = CHANNELS[ch].cpl }
      spent = spent + b
    end
  end
  table.sort(out, function(a, b) return a.budget > b.budget or (a.budget == b.budget and a.channel < b.channel) end)
  if out[1] then out[1].budget = out[1].budget + (budget - spent) end
  for _, a in ipairs(out) do
    a.budget = math.tointeger(a.budget) or a.budget
    a.share = math.floor(a.share * 1000 + 0.5) / 1000
    a.expected_leads = math.floor(a.budget / a.cpl)
    expected = expected + a.expected_leads
  end
  return out, dropped, expected
end

return {
  name = "channel_budget",
  description = "Split a marketing budget over channels using the agency's cost-per-lead table and the "
    .. "channel mix for the target company size; returns each channel's budget and expected leads.",
  parameters = {
    type = "object",
    required = { "budget" },
    properties = {
      budget = { type = "number", exclusiveMinimum = 0, description = "Total campaign budget" },
      company_size = { type = "string", enum = { "1-10", "11-50", "51-200", "201-1000", "1000+" } },
      channels = { type = "array", maxItems = 7, items = { type = "string", enum = names },
                   description = "Only these channels (default: the mix for the company size)" },
    },
    additionalProperties = false,
  },
  run = function(args)
    local allocations, dropped, expected = allocate(args.budget, args.company_size, args.channels)
    return { allocations = allocations, dropped = dropped, expected_leads = expected }
  end,
}
