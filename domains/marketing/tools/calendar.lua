-- calendar: the dates of a marketing plan (deterministic). The one place the domain's date arithmetic
-- lives: the campaign planner (its calendar) and the nurture planner (its touch dates) call it with
-- ctx.tool, and a model can call it too.
--
--   date      the start, YYYY-MM-DD
--   align     "next_monday": the start moves to the first Monday strictly after `date` (a campaign
--             that has no start date)
--   offsets   days after the (aligned) start; each comes back as { offset, date, weekday }, in order
--   weekends  "monday": an offset that lands on a Saturday or a Sunday gives the Monday after (an
--             email touch); default "keep"
-- Returns { start = the aligned start, weekday = its weekday, dates = { { offset, date, weekday }, ... } }.

local WEEKDAYS = { "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday" }

-- Days since 1970-01-01 <-> civil date (proleptic Gregorian; H. Hinnant's algorithms).
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = (z >= 0 and z or z - 146096) // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  return yoe + era * 400 + (m <= 2 and 1 or 0), m, d
end

local function iso(day)
  local y, m, d = civil_from_days(day)
  return string.format("%04d-%02d-%02d", y, m, d)
end

local function parse(s)
  local y, m, d = tostring(s):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then error("not an ISO date (YYYY-MM-DD): " .. tostring(s), 0) end
  return days_from_civil(tonumber(y), tonumber(m), tonumber(d))
end

local function weekday(day) return WEEKDAYS[(day + 4) % 7 + 1] end -- 1970-01-01 was a Thursday

-- Pure. a = the tool's arguments.
local function dates(a)
  local start = parse(a.date)
  if a.align == "next_monday" then start = start + (7 - (start + 3) % 7) end
  local out = {}
  for i, offset in ipairs(type(a.offsets) == "table" and a.offsets or {}) do
    local day = start + offset
    if a.weekends == "monday" then
      local wd = (day + 4) % 7 -- 0 = Sunday, 6 = Saturday
      if wd == 6 then day = day + 2 elseif wd == 0 then day = day + 1 end
    end
    out[i] = { offset = offset, date = iso(day), weekday = weekday(day) }
  end
  return { start = iso(start), weekday = weekday(start), dates = out }
end

return {
  name = "calendar",
  description = "Calendar dates for a marketing plan: the date and weekday of each day offset from a start "
    .. "date (optionally the next Monday after it), weekend dates optionally moved to the Monday",
  parameters = {
    type = "object",
    required = { "date" },
    properties = {
      date = { type = "string", format = "date" },
      align = { type = "string", enum = { "next_monday" }, description = "start on the first Monday after date" },
      offsets = { type = "array", maxItems = 3660, items = { type = "integer", minimum = 0, maximum = 36600 } },
      weekends = { type = "string", enum = { "keep", "monday" }, description = "default keep" },
    },
    additionalProperties = false,
  },
  dates = dates, -- pure, for tests
  run = function(args, ctx)
    return dates(args)
  end,
}
