-- nps_calculator: Net Promoter Score of a list of 0-10 answers, exactly: % promoters (9-10) minus
-- % detractors (0-6). The sentiment analyst calls it with ctx.tool; a model can call it too.
return {
  name = "nps_calculator",
  description = "Compute the Net Promoter Score of 0-10 'how likely are you to recommend us' answers: "
    .. "promoters (9-10), passives (7-8), detractors (0-6) and NPS = % promoters - % detractors.",
  parameters = {
    type = "object",
    required = { "scores" },
    properties = {
      scores = { type = "array", minItems = 1, maxItems = 10000,
                 items = { type = "integer", minimum = 0, maximum = 10 } },
    },
    additionalProperties = false,
  },
  run = function(args)
    local p, n, d = 0, 0, 0
    for _, s in ipairs(args.scores) do
      if s >= 9 then p = p + 1 elseif s >= 7 then n = n + 1 else d = d + 1 end
    end
    local total = p + n + d
    return { responses = total, promoters = p, passives = n, detractors = d,
             nps = (p - d) * 100 / total,
             promoter_pct = p * 100 / total, detractor_pct = d * 100 / total }
  end,
}
