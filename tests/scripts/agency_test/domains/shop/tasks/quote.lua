return {
  agent = "quoter",
  description = "Price an order",
  input = {
    type = "object",
    required = { "item", "qty" },
    properties = {
      item = { type = "string", minLength = 1 },
      qty = { type = "integer", minimum = 1 },
    },
  },
}
