-- Marketing -> Sales: a marketing-qualified lead (MQL) goes to sales qualification.
-- On marketing.score_lead success, when the lead scored at least the MQL threshold, one
-- sales.qualify_lead task gets the lead in that task type's input (domains/sales/tasks/
-- qualify_lead.lua): email, company, name, budget, authority (from the title), need (stated, or from
-- the engagement), timeline_days, notes (the MQL score and the scorer's note first) and source,
-- plus the MQL details and the offer the lead came for: offer = { slug, version, name } and
-- offer_slug (the proposal writer reads the spec from the offer domain's memory by slug).
local NOTES_MAX = 5000

local function num(x) -- 60.0 -> "60"
  local i = math.tointeger(x)
  return i and tostring(i) or tostring(x)
end

local function cut(s, max) -- at most max UTF-8 characters
  if utf8.len(s) == nil or utf8.len(s) <= max then return s end
  return s:sub(1, utf8.offset(s, max + 1) - 1)
end

return {
  on = "marketing.score_lead",
  to = "sales.qualify_lead",

  when = function(lead) return lead.qualified == true end,

  validate = function(lead)
    local reasons = {}
    if type(lead.email) ~= "string" or lead.email == "" then reasons[#reasons + 1] = "the lead has no email" end
    if type(lead.company) ~= "string" or lead.company == "" then reasons[#reasons + 1] = "the lead has no company" end
    if type(lead.score) ~= "number" or type(lead.threshold) ~= "number" or lead.score < lead.threshold then
      reasons[#reasons + 1] = string.format("qualified but the score %s is under the threshold %s",
        num(lead.score), num(lead.threshold))
    end
    if #reasons > 0 then return false, reasons end
    return true
  end,

  transform = function(lead)
    local notes = { string.format("MQL score %d (grade %s, threshold %d).", math.tointeger(lead.score) or 0,
      tostring(lead.grade), math.tointeger(lead.threshold) or 0) }
    if type(lead.note) == "string" and lead.note ~= "" then
      notes[#notes + 1] = lead.note:match("[%.!%?]%s*$") and lead.note or lead.note .. "."
    end
    if type(lead.notes) == "string" and lead.notes ~= "" then notes[#notes + 1] = "Lead said: " .. lead.notes end
    local offer = type(lead.offer) == "table" and lead.offer or nil
    return {
      email = lead.email,
      company = lead.company,
      name = lead.name,
      budget = lead.budget,
      authority = lead.authority,
      need = lead.need,
      timeline_days = lead.timeline_days,
      notes = cut(table.concat(notes, " "), NOTES_MAX),
      source = "marketing/" .. (type(lead.source) == "string" and lead.source or "inbound"),
      -- extra context for sales (sales.qualify_lead allows additional properties)
      title = lead.title,
      industry = lead.industry,
      employees = lead.employees,
      mql = { score = lead.score, grade = lead.grade, threshold = lead.threshold, reasons = lead.reasons },
      -- the sales schema's offer needs a name; offer_slug lets the proposal writer read the spec
      offer = offer and { slug = offer.slug, version = offer.version, name = offer.name or offer.slug } or nil,
      offer_slug = offer and offer.slug or nil,
      campaign = lead.campaign,
    }
  end,
}
