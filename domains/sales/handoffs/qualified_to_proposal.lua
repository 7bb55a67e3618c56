-- Sales (qualify) -> Sales (proposal): a qualified lead gets a proposal.
-- Applies only when the qualifier says qualified (score >= 60); a cold lead is no handoff at all.
-- The lead's BANT fields come from the qualify task's input (meta.input), its score and tier from
-- the result; the offer the lead came in on goes along (the spec when it has tiers, else its slug).
local function put_string(dst, src, k) if type(src[k]) == "string" and src[k] ~= "" then dst[k] = src[k] end end

return {
  on = "sales.qualify_lead",
  to = "sales.write_proposal",

  when = function(result, meta)
    return type(result) == "table" and result.qualified == true
  end,

  validate = function(result, meta)
    local reasons = {}
    if type(result.email) ~= "string" or result.email == "" then reasons[#reasons + 1] = "the result has no email" end
    if type(result.company) ~= "string" or result.company == "" then reasons[#reasons + 1] = "the result has no company" end
    if math.tointeger(result.score) == nil then reasons[#reasons + 1] = "the result has no integer score" end
    return #reasons == 0, reasons
  end,

  transform = function(result, meta)
    local src = type(meta.input) == "table" and meta.input or {}
    local lead = { email = result.email, company = result.company, score = math.tointeger(result.score),
                   tier = result.tier }
    for _, k in ipairs({ "name", "authority", "need", "notes", "source" }) do put_string(lead, src, k) end
    if type(src.budget) == "number" then lead.budget = src.budget end
    if math.tointeger(src.timeline_days) then lead.timeline_days = math.tointeger(src.timeline_days) end
    local input = { lead = lead }
    local offer = type(src.offer) == "table" and src.offer or nil
    if offer and type(offer.tiers) == "table" and #offer.tiers > 0 then
      input.offer = offer
    elseif type(src.offer_slug) == "string" then
      input.offer_slug = src.offer_slug
    elseif offer and type(offer.slug) == "string" then
      input.offer_slug = offer.slug
    end
    return input
  end,
}
