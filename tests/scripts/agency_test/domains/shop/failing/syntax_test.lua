-- A syntax error: the whole file is reported, with its line.
test("never declared", function()
  eq(1, = 2)
end)
