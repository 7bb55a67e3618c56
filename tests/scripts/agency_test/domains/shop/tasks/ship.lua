return {
  agent = "shipper",
  input = {
    type = "object",
    required = { "item", "qty", "total" },
    properties = {
      item = { type = "string" },
      qty = { type = "integer", minimum = 1 },
      total = { type = "number", minimum = 0 },
    },
  },
}
