test("declared but never run", function() end)
local x = nil
local y = x.field
