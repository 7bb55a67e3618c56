-- Fulfillment (plan) -> Fulfillment (tracking): a planned project starts being tracked.
--
-- MODE decides what the tracker does with a plan and no updates:
--   "simulate"  every milestone is done on its due date, so the project goes on to QA and feedback
--               at once: the agency loop runs on its own, offline (agency demo, tests);
--   "track"     the tracker reports the plan as it stands; staff then post fulfillment.track_delivery
--               tasks with the milestone updates, and the last one (all milestones done) goes to QA.
-- An agency running real projects sets MODE = "track" here (the file hot-reloads).
local MODE = "simulate"

return {
  on = "fulfillment.plan_project",
  to = "fulfillment.track_delivery",

  validate = function(result, meta)
    local reasons = {}
    if type(result.project) ~= "table" or type(result.project.id) ~= "string" then
      reasons[#reasons + 1] = "the plan has no project id"
    end
    if type(result.milestones) ~= "table" or #result.milestones == 0 then
      reasons[#reasons + 1] = "the plan has no milestones"
    end
    return #reasons == 0, reasons
  end,

  transform = function(plan, meta)
    return {
      project = plan.project,
      milestones = plan.milestones,
      holidays = plan.holidays,
      qa = plan.qa,
      mode = MODE,
    }
  end,
}
