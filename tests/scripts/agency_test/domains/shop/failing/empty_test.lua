-- No test() at all: that is an error, not a green run.
local x = 1
