-- working_days: business-day arithmetic on ISO dates (YYYY-MM-DD), deterministic.
-- Saturdays, Sundays and the given holidays are not working days.
--   op "add":     the date `days` working days after `date` (days = 0: `date` itself when it is a
--                 working day, else the next working day). add(Mon, 4) = Fri; add(Fri, 1) = Mon.
--   op "between": signed working days from `date` to `end`, not counting `date` itself:
--                 between(Mon, Fri) = 4, between(Fri, Mon) = 1, between(Fri, Thu before) = -1;
--                 and calendar_days, the signed calendar days (> 0: `end` is after `date`).
-- The one place the rule lives: agents/project_planner.lua and agents/delivery_tracker.lua call it
-- with ctx.tool, and a model can call it too.

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = (z >= 0 and z or z - 146096) // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp + (mp < 10 and 3 or -9)
  return m <= 2 and y + 1 or y, m, d
end

local function parse(s)
  local y, m, d = tostring(s):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then error("not an ISO date (YYYY-MM-DD): " .. tostring(s), 0) end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  local n = days_from_civil(y, m, d)
  local y2, m2, d2 = civil_from_days(n)
  if y2 ~= y or m2 ~= m or d2 ~= d then error("no such date: " .. s, 0) end
  return n
end

local function format(n)
  local y, m, d = civil_from_days(n)
  return string.format("%04d-%02d-%02d", y, m, d)
end

local function holiday_set(list)
  local set = {}
  for _, h in ipairs(type(list) == "table" and list or {}) do set[parse(h)] = true end
  return set
end

local function is_working(n, hol)
  local wd = (n + 4) % 7 -- 1970-01-01 was a Thursday; 0 = Sunday, 6 = Saturday
  return wd ~= 0 and wd ~= 6 and not hol[n]
end

local function add(date, days, holidays)
  local hol, n = holiday_set(holidays), parse(date)
  while not is_working(n, hol) do n = n + 1 end
  for _ = 1, days do
    repeat n = n + 1 until is_working(n, hol)
  end
  return format(n)
end

local function between(from, to, holidays)
  local hol, a, b = holiday_set(holidays), parse(from), parse(to)
  local sign = 1
  if b < a then a, b, sign = b, a, -1 end
  local count = 0
  for n = a + 1, b do
    if is_working(n, hol) then count = count + 1 end
  end
  return sign * count
end

return {
  name = "working_days",
  description = "Business-day date arithmetic: add N working days to a date, or count working days "
    .. "between two dates (weekends and the given holidays excluded; calendar_days too)",
  parameters = {
    type = "object",
    required = { "op", "date" },
    properties = {
      op = { type = "string", enum = { "add", "between" } },
      date = { type = "string", format = "date" },
      days = { type = "integer", minimum = 0, maximum = 100000, description = "for add" },
      ["end"] = { type = "string", format = "date", description = "for between" },
      holidays = { type = "array", maxItems = 366, items = { type = "string", format = "date" } },
    },
    additionalProperties = false,
  },
  add = add, between = between, -- pure, for tests
  run = function(args, ctx)
    if args.op == "add" then
      local days = math.tointeger(args.days) or 0
      return { op = "add", date = args.date, days = days, result = add(args.date, days, args.holidays) }
    end
    if type(args["end"]) ~= "string" then error("between needs end (a date)", 0) end
    return { op = "between", date = args.date, ["end"] = args["end"],
             working_days = between(args.date, args["end"], args.holidays),
             calendar_days = parse(args["end"]) - parse(args.date) }
  end,
}
