-- A CRM lookup the model can call: finds a company's account by name.
return {
  name = "crm_lookup",
  description = "Look up a company's account in the CRM by name",
  parameters = { type = "object", required = { "company" },
                 properties = { company = { type = "string", minLength = 1 } } },
  run = function(args, ctx)
    return { company = args.company, plan = "pro", seats = 12, looked_up_by = ctx.domain }
  end,
}
