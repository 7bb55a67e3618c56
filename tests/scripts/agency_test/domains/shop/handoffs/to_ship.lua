-- A priced order goes to shipping; free orders are not shipped; orders of more than 100 units are refused.
return {
  on = "shop.quote",
  to = "shop.ship",
  when = function(result, meta) return result.total > 0 end,
  validate = function(result, meta)
    if result.qty > 100 then return false, { "too many units: " .. result.qty } end
    return true
  end,
  transform = function(data, meta)
    return { item = data.item, qty = data.qty, total = data.total, from_task = meta.task_id }
  end,
}
