return {
  name = "stock",
  description = "Units in stock for an item",
  parameters = { type = "object", properties = { item = { type = "string" } } },
  run = function(args, ctx) return { item = args.item, units = 7 } end,
}
