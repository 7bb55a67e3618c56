-- Offer -> Marketing: a newly packaged offer becomes a campaign brief request.
-- On offer.package_service success, marketing.plan_campaign gets the customer-facing part of the
-- offer spec (never the costs and margins in spec.pricing) and the launch settings of the
-- packaging request (budget, start date, weeks), when it had them.
local function list(v) return type(v) == "table" and #v > 0 and v or nil end

return {
  on = "offer.package_service",
  to = "marketing.plan_campaign",

  validate = function(spec)
    local reasons = {}
    if type(spec.slug) ~= "string" or spec.slug == "" then reasons[#reasons + 1] = "the offer has no slug" end
    if math.tointeger(spec.version) == nil then reasons[#reasons + 1] = "the offer has no version" end
    if type(spec.persona) ~= "table" or type(spec.persona.role) ~= "string" then
      reasons[#reasons + 1] = "the offer has no target persona (persona.role)"
    end
    if type(spec.tiers) ~= "table" or #spec.tiers == 0 then
      reasons[#reasons + 1] = "the offer has no tiers"
    else
      for i, t in ipairs(spec.tiers) do
        if type(t.price) ~= "number" or t.price <= 0 then
          reasons[#reasons + 1] = string.format("tier %d (%s) has no price", i, tostring(t.name))
        end
      end
    end
    if #reasons > 0 then return false, reasons end
    return true
  end,

  extract = function(spec, meta)
    local launch = type(meta.input) == "table" and type(meta.input.launch) == "table" and meta.input.launch or {}
    return { spec = spec, launch = launch }
  end,

  transform = function(data)
    local spec, launch = data.spec, data.launch
    local tiers = {}
    for i, t in ipairs(spec.tiers) do
      tiers[i] = { name = t.name, price = t.price, includes = list(t.includes) }
    end
    return {
      offer = {
        slug = spec.slug,
        version = spec.version,
        name = spec.name,
        tagline = spec.tagline,
        value_proposition = spec.value_proposition,
        currency = spec.currency,
        persona = {
          role = spec.persona.role,
          company_size = spec.persona.company_size,
          industries = list(spec.persona.industries),
          pains = list(spec.persona.pains),
        },
        tiers = tiers,
        deliverables = list(spec.deliverables),
        guarantees = list(spec.guarantees),
        delivery_weeks = spec.delivery_weeks,
      },
      budget = launch.budget,
      start_date = launch.start_date,
      weeks = launch.weeks,
    }
  end,
}
