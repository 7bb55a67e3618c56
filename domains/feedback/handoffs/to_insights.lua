-- Feedback -> Feedback: a project's analysed feedback is added to the offer's insights.
-- On feedback.analyze_sentiment success, when the project delivered a known offer (slug and
-- version), one feedback.aggregate_insights task gets this project's analysis.
return {
  on = "feedback.analyze_sentiment",
  to = "feedback.aggregate_insights",

  when = function(result)
    return type(result.offer) == "table" and type(result.offer.slug) == "string"
  end,

  validate = function(result)
    local reasons = {}
    if math.tointeger(result.offer.version) == nil then reasons[#reasons + 1] = "the offer has no version" end
    if type(result.project) ~= "table" or result.project.id == nil then
      reasons[#reasons + 1] = "the analysis has no project id"
    end
    if #reasons > 0 then return false, reasons end
    return true
  end,

  transform = function(result)
    local themes = {}
    for i, t in ipairs(type(result.themes) == "table" and result.themes or {}) do
      themes[i] = { theme = t.theme, mentions = t.mentions, negative = t.negative, positive = t.positive,
                    neutral = t.neutral, sentiment = t.sentiment, quotes = t.quotes }
    end
    local p = result.project
    return {
      offer = result.offer,
      analyses = { {
        project = { id = p.id, name = p.name, client = p.client },
        responses = result.responses,
        promoters = result.promoters, passives = result.passives, detractors = result.detractors,
        nps = result.nps,
        sentiment = type(result.sentiment) == "table" and result.sentiment.label or nil,
        themes = themes,
      } },
    }
  end,
}
