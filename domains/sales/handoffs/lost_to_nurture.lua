-- Sales -> Marketing (nurturing lost deals): a closed_lost deal goes back to marketing, which keeps
-- the contact warm until it is worth another try. Target: marketing.nurture_lead (the marketing
-- domain's task type). Lost on price -> try again in 90 days; otherwise in 30.
return {
  on = "sales.manage_deal",
  to = "marketing.nurture_lead",

  when = function(result, meta)
    return type(result) == "table" and result.stage == "closed_lost"
  end,

  validate = function(result, meta)
    local d, reasons = result.deal, {}
    if type(d) ~= "table" then return false, { "the result has no deal" } end
    if type(d.contact_email) ~= "string" then reasons[#reasons + 1] = "the deal has no contact_email" end
    if type(d.lost_reason) ~= "string" or d.lost_reason == "" then reasons[#reasons + 1] = "the deal has no lost_reason" end
    return #reasons == 0, reasons
  end,

  transform = function(result, meta)
    local d = result.deal
    local reached = d.stage
    for _, h in ipairs(type(result.history) == "table" and result.history or {}) do
      if h.to == "closed_lost" then reached = h.from end
    end
    local on_price = d.lost_reason:lower():find("price", 1, true) or d.lost_reason:lower():find("budget", 1, true)
    return {
      email = d.contact_email,
      company = d.client,
      name = d.contact_name,
      deal_id = d.id,
      lost_reason = d.lost_reason,
      lost_on = d.lost_on,
      stage_reached = reached,
      offer = d.offer,
      offer_slug = d.offer_slug,
      tier = d.tier,
      value = d.value,
      currency = d.currency,
      nurture_in_days = on_price and 90 or 30,
      source = "sales.closed_lost",
    }
  end,
}
