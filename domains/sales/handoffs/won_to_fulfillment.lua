-- Sales -> Fulfillment (closed deals to a project): a closed_won deal becomes a project to plan.
-- Validation: a deal without a positive value, a signing date or any deliverable cannot be planned;
-- it is recorded as rejected with the reasons, and no fulfillment task is created.
return {
  on = "sales.manage_deal",
  to = "fulfillment.plan_project",

  when = function(result, meta)
    return type(result) == "table" and result.stage == "closed_won"
  end,

  validate = function(result, meta)
    local d, reasons = result.deal, {}
    if type(d) ~= "table" then return false, { "the result has no deal" } end
    if type(d.value) ~= "number" or d.value <= 0 then reasons[#reasons + 1] = "the deal has no value > 0" end
    if type(d.signed_on) ~= "string" then reasons[#reasons + 1] = "the deal has no signed_on date" end
    if type(d.contact_email) ~= "string" then reasons[#reasons + 1] = "the deal has no contact_email" end
    if type(d.deliverables) ~= "table" or #d.deliverables == 0 then
      reasons[#reasons + 1] = "the deal has no deliverables to plan"
    end
    return #reasons == 0, reasons
  end,

  extract = function(result, meta) return result.deal end,

  transform = function(d, meta)
    return {
      deal = {
        id = d.id,
        client = d.client,
        contact_email = d.contact_email,
        contact_name = d.contact_name,
        value = d.value,
        currency = d.currency,
        tier = d.tier,
        offer = d.offer,
        offer_slug = d.offer_slug,
        offer_version = math.tointeger(d.offer_version),
        deliverables = d.deliverables,
        signed_on = d.signed_on,
      },
    }
  end,
}
