-- Feedback -> Feedback: a survey with responses goes to sentiment analysis.
-- On feedback.collect_feedback success, when the client's responses are in, one
-- feedback.analyze_sentiment task gets the project, the offer and the responses.
return {
  on = "feedback.collect_feedback",
  to = "feedback.analyze_sentiment",

  when = function(result) return type(result.responses) == "table" and #result.responses > 0 end,

  validate = function(result)
    if type(result.project) ~= "table" or result.project.id == nil then
      return false, { "the survey result has no project id" }
    end
    return true
  end,

  transform = function(result)
    local p = result.project
    return {
      project = { id = p.id, name = p.name, client = p.client },
      offer = result.offer,
      survey_id = type(result.survey) == "table" and result.survey.id or nil,
      responses = result.responses,
    }
  end,
}
