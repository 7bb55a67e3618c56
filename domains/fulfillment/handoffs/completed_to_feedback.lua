-- Fulfillment -> Feedback (completed projects to feedback collection): a project that passed QA
-- goes to feedback.collect_feedback with its summary (and the offer it delivered, when known, so
-- feedback can refine that offer). A failed QA review hands nothing over.
return {
  on = "fulfillment.review_quality",
  to = "feedback.collect_feedback",

  when = function(result, meta)
    return type(result) == "table" and result.passed == true
  end,

  validate = function(result, meta)
    local p, reasons = result.project, {}
    if type(p) ~= "table" then return false, { "the result has no project" } end
    for _, k in ipairs({ "id", "name", "client", "completed_at" }) do
      if type(p[k]) ~= "string" or p[k] == "" then reasons[#reasons + 1] = "the project has no " .. k end
    end
    if p.status ~= "completed" then reasons[#reasons + 1] = "the project is not completed" end
    return #reasons == 0, reasons
  end,

  transform = function(result, meta)
    local p = result.project
    local name = p.name
    if utf8.len(name) and utf8.len(name) > 200 then name = name:sub(1, utf8.offset(name, 201) - 1) end -- feedback's limit
    local deliverables = {}
    for _, d in ipairs(type(result.deliverables) == "table" and result.deliverables or {}) do
      deliverables[#deliverables + 1] = d.name
    end
    local input = {
      project = {
        id = p.id,
        name = name,
        client = p.client,
        deliverables = deliverables,
        completed_at = p.completed_at,
        on_time = type(result.on_time) == "boolean" and result.on_time or nil,
        budget = type(p.budget) == "number" and p.budget or nil,
        owner = type(p.owner) == "string" and p.owner or nil,
      },
      responses = {},
    }
    local o = type(p.offer) == "table" and p.offer or nil
    if o and type(o.slug) == "string" and o.slug:match("^[a-z0-9][a-z0-9%-]*$") and math.tointeger(o.version) then
      input.offer = { slug = o.slug, version = math.tointeger(o.version), name = o.name, tier = o.tier }
    end
    if type(p.contact_email) == "string" then
      input.contact = { email = p.contact_email, name = p.contact_name }
    end
    return input
  end,
}
