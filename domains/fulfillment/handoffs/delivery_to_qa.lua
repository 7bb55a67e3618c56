-- Fulfillment (tracking) -> Fulfillment (QA): when every milestone is done, the deliverables and
-- their checklists go to the QA review. Until then there is no handoff (the project is in delivery).
return {
  on = "fulfillment.track_delivery",
  to = "fulfillment.review_quality",

  when = function(result, meta)
    return type(result) == "table" and result.all_done == true
  end,

  validate = function(result, meta)
    local n = 0
    for _, m in ipairs(type(result.milestones) == "table" and result.milestones or {}) do
      if m.kind == "deliverable" or m.deliverable then n = n + 1 end
    end
    if n == 0 then return false, { "no deliverable milestones to review" } end
    if type(result.project) ~= "table" or type(result.project.id) ~= "string" then
      return false, { "the result has no project id" }
    end
    return true
  end,

  transform = function(result, meta)
    local deliverables = {}
    for _, m in ipairs(result.milestones) do
      if m.kind == "deliverable" or m.deliverable then
        deliverables[#deliverables + 1] = {
          name = m.deliverable or m.name,
          milestone = m.id,
          checks_required = m.checks,
          checks_done = m.checks_done or {},
          completed_on = m.completed_on,
        }
      end
    end
    return {
      project = result.project,
      deliverables = deliverables,
      on_time = result.on_time,
      slip_days = math.tointeger(result.slip_days),
    }
  end,
}
