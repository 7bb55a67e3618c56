-- Tests for scripts/lua/schema.lua. Run from the repo root:
--   lua5.4 tests/scripts/schema_test.lua
-- Exits non-zero with a message on the first failure; prints "ok N tests".

local S = dofile("scripts/lua/schema.lua")

local NULL = setmetatable({}, { __name = "json.null", __tostring = function() return "null" end })
local OPTS = { null = NULL }

local count, failures = 0, {}

local function fmt_errs(errs)
  local parts = {}
  for i, e in ipairs(errs) do parts[i] = string.format("%q: %s", e.field, e.message) end
  return "{" .. table.concat(parts, "; ") .. "}"
end

local function test(name, fn)
  count = count + 1
  local ok, err = pcall(fn)
  if not ok then failures[#failures + 1] = name .. ": " .. tostring(err) end
end

-- expect(schema, value, { {field, message}, ... }) ; message may be nil (any)
local function expect(schema, value, want, opts)
  local got = S.validate(schema, value, opts == nil and OPTS or opts)
  local ok = #got == #want
  if ok then
    for i, w in ipairs(want) do
      if got[i].field ~= w[1] or (w[2] ~= nil and got[i].message ~= w[2]) then ok = false end
    end
  end
  if not ok then
    local parts = {}
    for i, w in ipairs(want) do parts[i] = string.format("%q: %s", w[1], tostring(w[2])) end
    error("expected {" .. table.concat(parts, "; ") .. "}, got " .. fmt_errs(got), 2)
  end
end

local function valid(schema, value, opts) expect(schema, value, {}, opts) end

local function bad_schema(schema, needle)
  local err = S.check_schema(schema)
  if not err then error("check_schema accepted a bad schema", 2) end
  if needle and not err:find(needle, 1, true) then
    error("check_schema message " .. err .. " lacks " .. needle, 2)
  end
  local ok, verr = pcall(S.validate, schema, {}, OPTS)
  if ok then error("validate did not raise on a bad schema", 2) end
  if not tostring(verr):find("schema: ", 1, true) then
    error("validate error lacks 'schema: ': " .. tostring(verr), 2)
  end
end

---------------------------------------------------------------------------
-- type

test("type string", function()
  valid({ type = "string" }, "x")
  expect({ type = "string" }, 1, { { "", "must be a string" } })
  expect({ type = "string" }, NULL, { { "", "must be a string" } })
end)

test("type number rejects nan/inf", function()
  valid({ type = "number" }, 1.5)
  valid({ type = "number" }, 3)
  expect({ type = "number" }, 0 / 0, { { "", "must be a number" } })
  expect({ type = "number" }, math.huge, { { "", "must be a number" } })
  expect({ type = "number" }, -math.huge, { { "", "must be a number" } })
  expect({ type = "number" }, "1", { { "", "must be a number" } })
end)

test("type integer vs float", function()
  valid({ type = "integer" }, 3)
  valid({ type = "integer" }, 3.0)       -- cjson decodes 3 as 3.0
  valid({ type = "integer" }, -0.0)
  valid({ type = "integer" }, 1e15)
  expect({ type = "integer" }, 3.5, { { "", "must be an integer" } })
  expect({ type = "integer" }, 0 / 0, { { "", "must be an integer" } })
  expect({ type = "integer" }, math.huge, { { "", "must be an integer" } })
  expect({ type = "integer" }, "3", { { "", "must be an integer" } })
end)

test("type boolean", function()
  valid({ type = "boolean" }, false)
  expect({ type = "boolean" }, 0, { { "", "must be a boolean" } })
end)

test("type null uses the sentinel", function()
  valid({ type = "null" }, NULL)
  expect({ type = "null" }, false, { { "", "must be null" } })
  -- without opts.null nothing is null
  expect({ type = "null" }, NULL, { { "", "must be null" } }, {})
  local ok = pcall(S.validate, { type = "string" }, "x", nil) -- opts may be nil
  assert(ok, "opts = nil must be accepted")
end)

test("type object/array and empty table", function()
  valid({ type = "object" }, { a = 1 })
  valid({ type = "array" }, { 1, 2 })
  valid({ type = "object" }, {})
  valid({ type = "array" }, {})
  expect({ type = "object" }, { 1, 2 }, { { "", "must be an object" } })
  expect({ type = "array" }, { a = 1 }, { { "", "must be an array" } })
  expect({ type = "array" }, { [1] = 1, [3] = 3 }, { { "", "must be an array" } })
  expect({ type = "object" }, NULL, { { "", "must be an object" } })
  expect({ type = "array" }, "x", { { "", "must be an array" } })
end)

test("type list", function()
  local s = { type = { "string", "null" } }
  valid(s, "x")
  valid(s, NULL)
  expect(s, 1, { { "", "must be a string or null" } })
  expect({ type = { "string", "number", "null" } }, true,
    { { "", "must be a string, a number or null" } })
end)

---------------------------------------------------------------------------
-- enum / const

test("enum", function()
  local s = { type = "string", enum = { "decision_maker", "influencer", "user", "unknown" } }
  valid(s, "user")
  expect(s, "ceo", { { "", "must be one of: decision_maker, influencer, user, unknown" } })
  valid({ enum = { 1, "a", NULL } }, 1.0)
  valid({ enum = { 1, "a", NULL } }, NULL)
  expect({ enum = { 1, 2 } }, 3, { { "", "must be one of: 1, 2" } })
  valid({ enum = { { a = 1 } } }, { a = 1 })
end)

test("const", function()
  valid({ const = "x" }, "x")
  expect({ const = "x" }, "y", { { "", "must be equal to x" } })
  valid({ const = 2 }, 2.0)
  valid({ const = { 1, 2 } }, { 1, 2 })
  expect({ const = { 1, 2 } }, { 1, 3 }, { { "" } })
end)

---------------------------------------------------------------------------
-- numbers

test("minimum/maximum", function()
  local s = { type = "number", minimum = 0, maximum = 3650 }
  valid(s, 0)
  valid(s, 3650.0)
  expect(s, -1, { { "", "must be at least 0" } })
  expect(s, 3651, { { "", "must be at most 3650" } })
  expect({ type = "number", minimum = 0.5 }, 0.25, { { "", "must be at least 0.5" } })
end)

test("exclusiveMinimum/exclusiveMaximum", function()
  local s = { exclusiveMinimum = 0, exclusiveMaximum = 10 }
  valid(s, 0.001)
  expect(s, 0, { { "", "must be greater than 0" } })
  expect(s, 10, { { "", "must be less than 10" } })
  valid(s, "not a number") -- numeric keywords only apply to numbers
end)

---------------------------------------------------------------------------
-- strings

test("minLength/maxLength count UTF-8 characters", function()
  local s = { type = "string", minLength = 2, maxLength = 3 }
  valid(s, "ab")
  valid(s, "ñé€")            -- 3 characters, 7 bytes
  expect(s, "a", { { "", "must be at least 2 characters long" } })
  expect(s, "abcd", { { "", "must be at most 3 characters long" } })
  expect({ type = "string", minLength = 1 }, "", { { "", "must not be empty" } })
  expect({ type = "string", maxLength = 1 }, "ab", { { "", "must be at most 1 character long" } })
end)

test("invalid UTF-8", function()
  expect({ type = "string", maxLength = 10 }, "ab\xff", { { "", "must be valid UTF-8" } })
  expect({ type = "string" }, "\xc3", { { "", "must be valid UTF-8" } })
end)

test("pattern is a Lua pattern", function()
  local s = { type = "string", pattern = "^%u%u%-%d+$" }
  valid(s, "AB-12")
  expect(s, "ab-12", { { "", "must match the pattern ^%u%u%-%d+$" } })
  valid({ pattern = "%d" }, "abc1def") -- unanchored
end)

test("format email", function()
  local s = { type = "string", format = "email" }
  for _, ok in ipairs({ "ana@example.com", "a.b+tag@sub.example.co", "x_y@ex-ample.org" }) do
    valid(s, ok)
  end
  for _, no in ipairs({ "ana", "ana@", "@example.com", "ana@example", "ana@@example.com",
    "a..b@example.com", ".a@example.com", "ana@-example.com", "ana@example.c",
    "an a@example.com", "ana@exa_mple.com", "ana@example.com." }) do
    expect(s, no, { { "", "must be a valid email address" } })
  end
end)

test("format date-time (RFC 3339)", function()
  local s = { type = "string", format = "date-time" }
  for _, ok in ipairs({ "2024-02-29T12:00:00Z", "2024-01-01t00:00:00.123z",
    "2023-12-31T23:59:60+05:30", "2023-06-01T08:15:00-07:00" }) do
    valid(s, ok)
  end
  for _, no in ipairs({ "2023-02-29T12:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01",
    "2024-01-01T24:00:00Z", "2024-01-01T00:00:00", "2024-01-01 00:00:00Z",
    "2024-01-01T00:00:00+5:30", "2024-01-01T00:00:00.Z" }) do
    expect(s, no, { { "", "must be a valid date-time (RFC 3339)" } })
  end
end)

test("format date", function()
  local s = { format = "date" }
  valid(s, "2000-02-29")
  valid(s, "2024-12-31")
  expect(s, "1900-02-29", { { "", "must be a valid date (YYYY-MM-DD)" } })
  expect(s, "2024-04-31", { { "", "must be a valid date (YYYY-MM-DD)" } })
  expect(s, "2024-1-01", { { "" } })
end)

test("format uri (http/https)", function()
  local s = { type = "string", format = "uri" }
  for _, ok in ipairs({ "https://example.com", "http://example.com:8080/a/b?c=d#e",
    "HTTPS://user@api.example.com/x", "http://localhost/", "http://[::1]:80/" }) do
    valid(s, ok)
  end
  for _, no in ipairs({ "ftp://example.com", "example.com", "https://", "https:// x.com",
    "https://example.com:99999/", "javascript:alert(1)", "https://exa mple.com" }) do
    expect(s, no, { { "", "must be a valid http(s) URI" } })
  end
end)

---------------------------------------------------------------------------
-- objects

test("required, sorted, one error per field", function()
  local s = { type = "object", required = { "zeta", "alpha", "email" },
    properties = { email = { type = "string", format = "email", minLength = 100 } } }
  expect(s, {}, { { "alpha", "is required" }, { "email", "is required" }, { "zeta", "is required" } })
  -- email fails minLength and format: reported once
  expect(s, { alpha = 1, zeta = 1, email = "nope" }, { { "email" } })
end)

test("required satisfied by null, then typed", function()
  local s = { required = { "a" }, properties = { a = { type = "string" } } }
  expect(s, { a = NULL }, { { "a", "must be a string" } })
end)

test("properties optional and validated", function()
  local s = { type = "object", properties = { n = { type = "integer" } } }
  valid(s, {})
  valid(s, { n = 2.0, other = "ok" })
  expect(s, { n = 2.5 }, { { "n", "must be an integer" } })
end)

test("additionalProperties false", function()
  local s = { type = "object", properties = { a = {} }, additionalProperties = false }
  valid(s, { a = 1 })
  expect(s, { a = 1, z = 1, b = 2 }, { { "b", "is not allowed" }, { "z", "is not allowed" } })
  valid({ additionalProperties = true }, { x = 1 })
end)

test("additionalProperties schema", function()
  local s = { properties = { id = { type = "string" } }, additionalProperties = { type = "number" } }
  valid(s, { id = "x", a = 1, b = 2 })
  expect(s, { id = "x", a = "1" }, { { "a", "must be a number" } })
end)

test("nested paths and multiple errors", function()
  local s = {
    type = "object",
    required = { "name", "address" },
    properties = {
      name = { type = "string" },
      address = {
        type = "object", required = { "city" },
        properties = { city = { type = "string" }, zip = { type = "string", pattern = "^%d%d%d%d%d$" } },
      },
      items = {
        type = "array", minItems = 1,
        items = { type = "object", required = { "name" }, properties = { name = { type = "string" }, qty = { type = "integer", minimum = 1 } } },
      },
    },
  }
  expect(s, {
    name = 5,
    address = { zip = "12a" },
    items = { { name = "a", qty = 1 }, { qty = 0 }, { name = false, qty = 1.5 } },
  }, {
    { "address.city", "is required" },
    { "address.zip", "must match the pattern ^%d%d%d%d%d$" },
    { "items[1].name", "is required" },
    { "items[1].qty", "must be at least 1" },
    { "items[2].name", "must be a string" },
    { "items[2].qty", "must be an integer" },
    { "name", "must be a string" },
  })
  -- the wrong type at a node stops descent into it
  expect(s, { name = "x", address = "Main St" }, { { "address", "must be an object" } })
end)

test("deterministic order", function()
  local s = { properties = {} , additionalProperties = false }
  local v = {}
  for i = 1, 50 do v["k" .. string.format("%02d", i)] = i end
  local errs = S.validate(s, v, OPTS)
  assert(#errs == 50, "50 errors")
  for i = 2, #errs do assert(errs[i - 1].field < errs[i].field, "sorted") end
end)

---------------------------------------------------------------------------
-- arrays

test("items/minItems/maxItems", function()
  local s = { type = "array", items = { type = "string" }, minItems = 1, maxItems = 2 }
  valid(s, { "a" })
  expect(s, {}, { { "", "must have at least 1 item" } })
  expect(s, { "a", "b", "c" }, { { "", "must have at most 2 items" } })
  expect(s, { "a", 2 }, { { "[1]", "must be a string" } })
  -- node error and item errors together
  expect(s, { 1, 2, 3 }, { { "", "must have at most 2 items" }, { "[0]" }, { "[1]" }, { "[2]" } })
  expect({ type = "array", items = { type = "integer" } }, { 1, NULL }, { { "[1]", "must be an integer" } })
end)

---------------------------------------------------------------------------
-- annotations

test("default/description ignored", function()
  valid({ type = "string", default = "x", description = "d", title = "t" }, "y")
  expect({ type = "string", default = "x" }, nil, { { "", "must be a string" } })
end)

test("empty schema accepts anything", function()
  valid({}, 1); valid({}, "x"); valid({}, NULL); valid({}, { 1 }); valid({}, nil)
end)

---------------------------------------------------------------------------
-- bad schemas

test("bad schemas", function()
  bad_schema({ type = "strng" }, 'unknown type "strng"')
  bad_schema({ type = {} })
  bad_schema({ type = { "string", "float" } }, "float")
  bad_schema({ properties = "email" }, "properties")
  bad_schema({ properties = { a = 5 } }, "properties.a")
  bad_schema({ properties = { a = { type = "nope" } } }, "properties.a.type")
  bad_schema({ items = { properties = { x = { minLength = -1 } } } }, "items.properties.x.minLength")
  bad_schema({ required = "email" }, "required")
  bad_schema({ required = { 1 } })
  bad_schema({ enum = {} }, "enum")
  bad_schema({ minimum = "0" }, "minimum")
  bad_schema({ maximum = 0 / 0 })
  bad_schema({ maxLength = 1.5 })
  bad_schema({ pattern = "[a-" }, "pattern")
  bad_schema({ pattern = "abc%" }, "pattern")
  bad_schema({ pattern = "(a" }, "pattern")
  bad_schema({ format = "phone" }, "format")
  bad_schema({ minLenght = 1 }, "minLenght")
  bad_schema({ additionalProperties = "no" })
  bad_schema("string")
  assert(S.check_schema({ type = "object", properties = { a = { type = "string", pattern = "^[%w_]+$" } } }) == nil)
end)

test("bad schema error points at the caller", function()
  local ok, err = pcall(function() local r = S.validate({ type = "strng" }, 1); return r end)
  assert(not ok)
  assert(tostring(err):find("schema_test.lua:%d+: schema: "), "error should name the caller: " .. tostring(err))
end)

---------------------------------------------------------------------------

if #failures > 0 then
  io.stderr:write(string.format("FAIL %d of %d tests\n", #failures, count))
  for _, f in ipairs(failures) do io.stderr:write("  " .. f .. "\n") end
  os.exit(1)
end
print(string.format("ok %d tests", count))
