-- Sales (proposal) -> Sales (deal desk): a written proposal becomes a deal at stage "proposal".
-- The proposal writer succeeds only once a needed approval is decided (the task waits before), so
-- the status is ready, approved or rejected. A rejected proposal is handed over too: the deal desk
-- closes it as lost, and the lost deal goes to marketing for nurturing.
return {
  on = "sales.write_proposal",
  to = "sales.manage_deal",

  when = function(result, meta)
    return type(result) == "table" and type(result.proposal) == "table"
  end,

  validate = function(result, meta)
    local p, reasons = result.proposal, {}
    if type(p.id) ~= "string" then reasons[#reasons + 1] = "the proposal has no id" end
    if type(p.client) ~= "string" then reasons[#reasons + 1] = "the proposal has no client" end
    if type(p.contact) ~= "table" or type(p.contact.email) ~= "string" then
      reasons[#reasons + 1] = "the proposal has no contact email"
    end
    if type(p.value) ~= "number" or p.value < 0 then reasons[#reasons + 1] = "the proposal has no value" end
    return #reasons == 0, reasons
  end,

  extract = function(result, meta)
    return { proposal = result.proposal, lead = type(result.lead) == "table" and result.lead or {} }
  end,

  transform = function(data, meta)
    local p, lead = data.proposal, data.lead
    local offer = type(p.offer) == "table" and p.offer or {}
    local deal = {
      client = p.client,
      contact_email = p.contact.email,
      contact_name = type(p.contact.name) == "string" and p.contact.name or nil,
      value = p.value,
      currency = p.currency,
      tier = p.tier,
      offer = offer.name,
      offer_slug = offer.slug,
      offer_version = math.tointeger(offer.version),
      budget = type(p.budget) == "number" and p.budget or nil,
      stage = "proposal",
      proposal_id = p.id,
      deliverables = type(p.includes) == "table" and #p.includes > 0 and p.includes or nil,
      lead_score = math.tointeger(lead.score),
    }
    local approval = type(p.approval) == "table" and p.approval or {}
    return {
      deal = deal,
      proposal = {
        id = p.id,
        status = p.status,
        value = p.value,
        fits_budget = type(p.fits_budget) == "boolean" and p.fits_budget or nil,
        comment = type(approval.comment) == "string" and approval.comment or nil,
      },
    }
  end,
}
