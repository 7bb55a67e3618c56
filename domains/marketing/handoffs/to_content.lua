-- Marketing -> Marketing: a planned campaign goes to the content writer.
-- On marketing.plan_campaign success, marketing.write_content gets the offer, the campaign, the key
-- messages and the content calendar of the brief.
local CALENDAR_FIELDS = { "date", "weekday", "week", "channel", "format", "topic", "persona" }

return {
  on = "marketing.plan_campaign",
  to = "marketing.write_content",

  validate = function(brief)
    local reasons = {}
    if type(brief.campaign) ~= "table" or type(brief.campaign.slug) ~= "string" then
      reasons[#reasons + 1] = "the brief has no campaign slug"
    end
    if type(brief.calendar) ~= "table" or #brief.calendar == 0 then
      reasons[#reasons + 1] = "the brief has an empty content calendar"
    end
    if type(brief.messages) ~= "table" or #brief.messages == 0 then
      reasons[#reasons + 1] = "the brief has no key messages"
    end
    if #reasons > 0 then return false, reasons end
    return true
  end,

  transform = function(brief)
    local calendar = {}
    for i, it in ipairs(brief.calendar) do
      local c = {}
      for _, k in ipairs(CALENDAR_FIELDS) do c[k] = it[k] end
      calendar[i] = c
    end
    local messages = {}
    for i, m in ipairs(brief.messages) do
      messages[i] = { persona = m.persona, headline = m.headline, body = m.body, cta = m.cta }
    end
    return {
      offer = brief.offer,
      campaign = { slug = brief.campaign.slug, name = brief.campaign.name, start_date = brief.campaign.start_date },
      messages = messages,
      calendar = calendar,
    }
  end,
}
