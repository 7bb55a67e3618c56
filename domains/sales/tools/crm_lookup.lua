-- crm_lookup: what the sales domain knows about a contact, from its memory (the "CRM"):
--   lead:<email>      written by agents/qualifier.lua       (score, qualified, tier, at)
--   proposal:<email>  written by agents/proposal_writer.lua (id, tier, value, status, at)
--   deal:<email>      written by agents/deal_desk.lua       (id, stage, value, at)
-- Deterministic; reads only. Given to the model by the proposal writer so a proposal can refer to
-- earlier contact (a re-qualified lead, a lost deal coming back).
return {
  name = "crm_lookup",
  description = "Look up a contact in the sales CRM by email: lead score, last proposal and deal stage",
  parameters = {
    type = "object",
    required = { "email" },
    properties = { email = { type = "string", format = "email" } },
    additionalProperties = false,
  },
  run = function(args, ctx)
    local email = args.email:lower()
    local function get(prefix) -- keys are written lower-cased; the qualifier keeps the email as given
      return memory.get(prefix .. email) or (args.email ~= email and memory.get(prefix .. args.email)) or nil
    end
    local lead, proposal, deal = get("lead:"), get("proposal:"), get("deal:")
    return {
      email = email,
      found = lead ~= nil or proposal ~= nil or deal ~= nil,
      lead = lead,
      proposal = proposal,
      deal = deal,
    }
  end,
}
