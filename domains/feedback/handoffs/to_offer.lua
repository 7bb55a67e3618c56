-- Feedback -> Offer: insights that call for a change refine the offer.
-- On feedback.aggregate_insights success, when a theme became actionable (result.refine), one
-- offer.refine_offer task gets the offer (slug, the version the projects delivered), the
-- refinements (insights with their ids, so the new version records what it came from), the NPS
-- across projects, and the offer spec when it was carried along.
return {
  on = "feedback.aggregate_insights",
  to = "offer.refine_offer",

  when = function(result) return result.refine == true end,

  validate = function(result)
    local reasons = {}
    if type(result.offer) ~= "table" or type(result.offer.slug) ~= "string" then
      reasons[#reasons + 1] = "no offer to refine"
    end
    if type(result.refinements) ~= "table" or #result.refinements == 0 then
      reasons[#reasons + 1] = "refine is set but there are no refinements"
    end
    if #reasons > 0 then return false, reasons end
    return true
  end,

  transform = function(result, meta)
    local insights = {}
    for i, ins in ipairs(result.refinements) do
      insights[i] = { id = ins.id, theme = ins.theme, count = ins.count, recommendation = ins.recommendation,
                      sentiment = ins.sentiment, projects = ins.projects }
    end
    local nps = result.nps
    if type(nps) == "number" then nps = math.floor(nps * 10 + 0.5) / 10 end
    return {
      offer = { slug = result.offer.slug, version = result.offer.version, name = result.offer.name },
      previous = result.offer.spec,
      insights = insights,
      nps = nps,
      source = { projects = result.projects, responses = result.responses, task_id = meta.task_id,
                 workflow_id = meta.workflow_id },
    }
  end,
}
