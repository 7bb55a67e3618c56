-- schema.lua — a small JSON-Schema-subset validator (pure Lua 5.4).
--
-- Uses only the base library, string, table, math and utf8. Assigns no
-- globals and requires nothing, so the engine can load it as text into any
-- state (including a script sandbox).
--
-- API
--   local M = <this file>
--   M.validate(schema, value [, opts]) -> errors
--       errors is a list (possibly empty) of { field = <path>, message = <text> },
--       at most one entry per offending field, in a deterministic order
--       (a node's own error first, then its children: object properties in
--       sorted name order, array elements in index order).
--       <path> is dotted: "email", "address.city", "items[0].name"; the
--       root is "". Array indexes are 0-based, like JSON Pointer / other
--       JSON tooling, because they refer to positions in the JSON input.
--       opts.null is the value standing for JSON null (lua-cjson's
--       json.null); opts may be nil, in which case nothing is null.
--       A malformed schema raises error("schema: ...").
--   M.check_schema(schema) -> nil | "schema: <where>: <what>"
--       Checks a schema once (e.g. at script load time) without a value.
--
-- Keywords
--   type (string or list of: object, array, string, number, integer,
--   boolean, null), required, properties, additionalProperties (boolean or
--   schema), enum, const, minimum, maximum, exclusiveMinimum,
--   exclusiveMaximum (numbers, 2020-12 style), minLength, maxLength (UTF-8
--   characters; invalid UTF-8 is an error), pattern (a LUA pattern, not a
--   regex, unanchored unless it uses ^/$), format (email, date-time
--   [RFC 3339], date [YYYY-MM-DD], uri [absolute http/https]), items,
--   minItems, maxItems. Ignored annotations: default, description, title,
--   examples, $comment, $schema, $id. Any other keyword is a schema error
--   (it catches typos such as "minLenght").
--
-- Value model (as produced by lua-cjson)
--   object: a table whose keys are all strings; array: a table whose keys
--   are exactly 1..n. An empty table is both an empty object and an empty
--   array. number: a finite Lua number (NaN and +-inf are rejected);
--   integer: a finite number with no fractional part (1 and 1.0 both count).
--   Keywords only constrain values of the kind they apply to (minimum is
--   ignored for a string, unless "type" says otherwise), as in JSON Schema.

local M = {}

local type, pairs, ipairs, tostring, tonumber = type, pairs, ipairs, tostring, tonumber
local setmetatable, pcall, error = setmetatable, pcall, error
local sfmt, sfind, ssub, smatch = string.format, string.find, string.sub, string.match
local tsort, tconcat = table.sort, table.concat
local mtype, mfloor, mhuge, mtointeger = math.type, math.floor, math.huge, math.tointeger
local ulen = utf8.len

---------------------------------------------------------------------------
-- helpers

local TYPE_NAMES = {
  object = "an object", array = "an array", string = "a string",
  number = "a number", integer = "an integer", boolean = "a boolean",
  null = "null",
}

local FORMATS = { email = true, ["date-time"] = true, date = true, uri = true }

local IGNORED = {
  default = true, description = true, title = true, examples = true,
  ["$comment"] = true, ["$schema"] = true, ["$id"] = true,
}

local function is_finite(x)
  return type(x) == "number" and x == x and x ~= mhuge and x ~= -mhuge
end

local function is_integral(x)
  if mtype(x) == "integer" then return true end
  return is_finite(x) and x == mfloor(x)
end

-- Render a number without a spurious ".0" (cjson gives floats).
local function fmt_num(x)
  if mtype(x) == "integer" then return tostring(x) end
  if x ~= x then return "NaN" end
  if x == mhuge then return "inf" end
  if x == -mhuge then return "-inf" end
  local i = mtointeger(x)
  if i then return tostring(i) end
  return sfmt("%.14g", x)
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  tsort(ks, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return ks
end

local function render(v, null, depth)
  depth = depth or 0
  if null ~= nil and v == null then return "null" end
  local tv = type(v)
  if tv == "string" then return v end
  if tv == "number" then return fmt_num(v) end
  if tv == "boolean" or tv == "nil" then return tostring(v) end
  if tv == "table" then
    if depth > 3 then return "..." end
    local parts = {}
    for _, k in ipairs(sorted_keys(v)) do
      parts[#parts + 1] = (type(k) == "string" and (k .. ": ") or "")
        .. render(v[k], null, depth + 1)
    end
    return "{" .. tconcat(parts, ", ") .. "}"
  end
  return tv
end

-- Table shape: "empty", "array", "object" or "mixed", and the key count.
local function shape(t)
  local n, max, all_str, all_pos = 0, 0, true, true
  for k in pairs(t) do
    n = n + 1
    if type(k) ~= "string" then all_str = false end
    if mtype(k) == "integer" and k >= 1 then
      if k > max then max = k end
    else
      all_pos = false
    end
  end
  if n == 0 then return "empty", 0 end
  if all_str then return "object", n end
  if all_pos and max == n then return "array", n end
  return "mixed", n
end

local function is_object(v, null)
  if type(v) ~= "table" or v == null then return false end
  local s = shape(v)
  return s == "empty" or s == "object"
end

local function is_array(v, null)
  if type(v) ~= "table" or v == null then return false end
  local s, n = shape(v)
  return s == "empty" or s == "array", n
end

local function has_type(v, name, null)
  if null ~= nil and v == null then return name == "null" end
  if name == "string" then return type(v) == "string"
  elseif name == "number" then return is_finite(v)
  elseif name == "integer" then return is_integral(v)
  elseif name == "boolean" then return type(v) == "boolean"
  elseif name == "object" then return is_object(v, null)
  elseif name == "array" then return (is_array(v, null))
  end
  return false
end

local function deep_equal(a, b, depth)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  if (depth or 0) > 32 then return false end
  for k, v in pairs(a) do
    if not deep_equal(v, b[k], (depth or 0) + 1) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function join_or(words)
  if #words == 1 then return words[1] end
  return tconcat(words, ", ", 1, #words - 1) .. " or " .. words[#words]
end

local function plural(n, word)
  return fmt_num(n) .. " " .. word .. (n == 1 and "" or "s")
end

---------------------------------------------------------------------------
-- formats

local function is_leap(y) return (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0 end
local MDAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function valid_ymd(y, m, d)
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m < 1 or m > 12 or d < 1 then return false end
  local max = MDAYS[m]
  if m == 2 and is_leap(y) then max = 29 end
  return d <= max
end

local function is_date(s)
  local y, m, d = smatch(s, "^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  return y ~= nil and valid_ymd(y, m, d)
end

local function is_date_time(s)
  -- full-date "T" partial-time time-offset; "t"/"z" allowed per RFC 3339 §5.6
  local date, hh, mi, ss, rest = smatch(s, "^(%d%d%d%d%-%d%d%-%d%d)[Tt](%d%d):(%d%d):(%d%d)(.*)$")
  if not date or not is_date(date) then return false end
  if tonumber(hh) > 23 or tonumber(mi) > 59 or tonumber(ss) > 60 then return false end
  local frac_rest = smatch(rest, "^%.%d+(.*)$")
  if frac_rest then rest = frac_rest end
  if rest == "Z" or rest == "z" then return true end
  local oh, om = smatch(rest, "^[+-](%d%d):(%d%d)$")
  return oh ~= nil and tonumber(oh) <= 23 and tonumber(om) <= 59
end

local function valid_label(l)
  return #l >= 1 and #l <= 63 and smatch(l, "^[%w-]+$") ~= nil
    and ssub(l, 1, 1) ~= "-" and ssub(l, -1) ~= "-"
end

local function valid_hostname(h, need_dot)
  if #h == 0 or #h > 253 then return false end
  local labels = 0
  for label in (h .. "."):gmatch("([^.]*)%.") do
    if not valid_label(label) then return false end
    labels = labels + 1
  end
  if need_dot and labels < 2 then return false end
  return true
end

local function is_email(s)
  if #s > 254 then return false end
  local l, d = smatch(s, "^([^@]+)@([^@]+)$")
  if not l or #l > 64 then return false end
  if not smatch(l, "^[%w!#$%%&'*+/=?^_`{|}~.-]+$") then return false end
  if ssub(l, 1, 1) == "." or ssub(l, -1) == "." or sfind(l, "..", 1, true) then return false end
  if not valid_hostname(d, true) then return false end
  local tld = smatch(d, "([^.]+)$")
  return smatch(tld, "^%a%a+$") ~= nil
end

local function is_uri(s)
  if sfind(s, "[%s%c]") then return false end
  local scheme, rest = smatch(s, "^(%a[%w+.-]*)://(.*)$")
  if not scheme then return false end
  scheme = scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then return false end
  local authority = smatch(rest, "^([^/?#]*)")
  local hostport = smatch(authority, "^[^@]*@(.*)$") or authority
  local host, port
  if ssub(hostport, 1, 1) == "[" then
    host, port = smatch(hostport, "^%[([%x:.]+)%](.*)$")
    if not host or not sfind(host, ":", 1, true) then return false end
  else
    host, port = smatch(hostport, "^([^:]*)(.*)$")
    if not valid_hostname(host, false) then return false end
  end
  if port ~= "" then
    local p = smatch(port, "^:(%d+)$")
    if not p or tonumber(p) > 65535 then return false end
  end
  return true
end

local FORMAT_CHECK = {
  email = { is_email, "must be a valid email address" },
  ["date-time"] = { is_date_time, "must be a valid date-time (RFC 3339)" },
  date = { is_date, "must be a valid date (YYYY-MM-DD)" },
  uri = { is_uri, "must be a valid http(s) URI" },
}

---------------------------------------------------------------------------
-- schema checking

-- Static check of a Lua pattern (Lua reports most pattern errors lazily,
-- only when matching reaches the bad spot).
local function pattern_error(p)
  local i, n, depth = 1, #p, 0
  while i <= n do
    local c = ssub(p, i, i)
    if c == "%" then
      local nx = ssub(p, i + 1, i + 1)
      if nx == "" then return "ends with '%'" end
      if nx == "b" then
        if i + 3 > n then return "missing arguments to '%b'" end
        i = i + 4
      elseif nx == "f" then
        if ssub(p, i + 2, i + 2) ~= "[" then return "missing '[' after '%f'" end
        i = i + 2 -- the set is checked next iteration
      else
        i = i + 2
      end
    elseif c == "[" then
      local j = i + 1
      if ssub(p, j, j) == "^" then j = j + 1 end
      if ssub(p, j, j) == "]" then j = j + 1 end -- literal ']' first
      while true do
        if j > n then return "missing ']'" end
        local d = ssub(p, j, j)
        if d == "%" then
          if j + 1 > n then return "missing ']'" end
          j = j + 2
        elseif d == "]" then
          break
        else
          j = j + 1
        end
      end
      i = j + 1
    elseif c == "(" then
      depth = depth + 1; i = i + 1
    elseif c == ")" then
      depth = depth - 1
      if depth < 0 then return "invalid pattern capture" end
      i = i + 1
    else
      i = i + 1
    end
  end
  if depth ~= 0 then return "unfinished capture" end
  local ok, err = pcall(sfind, "", p)
  if not ok then return tostring(err) end
  return nil
end

local function is_list(t)
  local s = shape(t)
  return s == "array" or s == "empty"
end

local check -- forward

local function where(path, key)
  if path == "" then return key end
  return path .. "." .. key
end

local function check_nonneg_int(v)
  return type(v) == "number" and is_integral(v) and v >= 0
end

check = function(s, path, depth)
  local at = path == "" and "root" or path
  if type(s) ~= "table" then
    return sfmt("schema: %s: must be a table, got %s", at, type(s))
  end
  if depth > 64 then return "schema: " .. at .. ": nested too deeply" end
  for k, v in pairs(s) do
    if type(k) ~= "string" then
      return sfmt("schema: %s: keyword must be a string, got %s", at, type(k))
    end
    local here = where(path, k)
    if IGNORED[k] then
      -- annotations, not checked
    elseif k == "type" then
      local names = type(v) == "table" and v or { v }
      if type(v) == "table" and (not is_list(v) or #v == 0) then
        return "schema: " .. here .. ": must be a type name or a non-empty list of them"
      end
      for _, name in ipairs(names) do
        if type(name) ~= "string" or not TYPE_NAMES[name] then
          return sfmt("schema: %s: unknown type %q", here, tostring(name))
        end
      end
    elseif k == "required" then
      if type(v) ~= "table" or not is_list(v) then
        return "schema: " .. here .. ": must be a list of property names"
      end
      for _, name in ipairs(v) do
        if type(name) ~= "string" then
          return "schema: " .. here .. ": must be a list of property names"
        end
      end
    elseif k == "properties" then
      if type(v) ~= "table" then
        return "schema: " .. here .. ": must be a table of name = schema"
      end
      for name, sub in pairs(v) do
        if type(name) ~= "string" then
          return "schema: " .. here .. ": property names must be strings"
        end
        local err = check(sub, where(here, name), depth + 1)
        if err then return err end
      end
    elseif k == "additionalProperties" then
      if type(v) ~= "boolean" then
        local err = check(v, here, depth + 1)
        if err then return err end
      end
    elseif k == "items" then
      local err = check(v, here, depth + 1)
      if err then return err end
    elseif k == "enum" then
      if type(v) ~= "table" or not is_list(v) or #v == 0 then
        return "schema: " .. here .. ": must be a non-empty list"
      end
    elseif k == "const" then
      -- any value
    elseif k == "minimum" or k == "maximum" or k == "exclusiveMinimum" or k == "exclusiveMaximum" then
      if not is_finite(v) then
        return "schema: " .. here .. ": must be a finite number"
      end
    elseif k == "minLength" or k == "maxLength" or k == "minItems" or k == "maxItems" then
      if not check_nonneg_int(v) then
        return "schema: " .. here .. ": must be a non-negative integer"
      end
    elseif k == "pattern" then
      if type(v) ~= "string" then
        return "schema: " .. here .. ": must be a string (a Lua pattern)"
      end
      local perr = pattern_error(v)
      if perr then return "schema: " .. here .. ": bad Lua pattern: " .. perr end
    elseif k == "format" then
      if type(v) ~= "string" or not FORMATS[v] then
        return sfmt("schema: %s: unknown format %q (supported: date, date-time, email, uri)",
          here, tostring(v))
      end
    else
      return sfmt("schema: %s: unknown keyword %q", at, k)
    end
  end
  return nil
end

-- Schemas already checked (weak keys, so they can be collected).
local checked = setmetatable({}, { __mode = "k" })

function M.check_schema(schema)
  local err = check(schema, "", 0)
  if not err and type(schema) == "table" then checked[schema] = true end
  return err
end

---------------------------------------------------------------------------
-- validation

local function child(path, name)
  if path == "" then return name end
  return path .. "." .. name
end

local function node_error(s, v, null)
  -- type
  local t = s.type
  if t ~= nil then
    local names = type(t) == "table" and t or { t }
    local ok = false
    for _, name in ipairs(names) do
      if has_type(v, name, null) then ok = true; break end
    end
    if not ok then
      local words = {}
      for i, name in ipairs(names) do words[i] = TYPE_NAMES[name] end
      return "must be " .. join_or(words), true
    end
  end
  -- enum / const
  if s.enum ~= nil then
    local found = false
    for _, e in ipairs(s.enum) do
      if deep_equal(e, v) then found = true; break end
    end
    if not found then
      local words = {}
      for i, e in ipairs(s.enum) do words[i] = render(e, null) end
      return "must be one of: " .. tconcat(words, ", ")
    end
  end
  if s.const ~= nil and not deep_equal(s.const, v) then
    return "must be equal to " .. render(s.const, null)
  end
  local tv = type(v)
  if tv == "number" and not (null ~= nil and v == null) then
    if s.minimum ~= nil and not (v >= s.minimum) then
      return "must be at least " .. fmt_num(s.minimum)
    end
    if s.maximum ~= nil and not (v <= s.maximum) then
      return "must be at most " .. fmt_num(s.maximum)
    end
    if s.exclusiveMinimum ~= nil and not (v > s.exclusiveMinimum) then
      return "must be greater than " .. fmt_num(s.exclusiveMinimum)
    end
    if s.exclusiveMaximum ~= nil and not (v < s.exclusiveMaximum) then
      return "must be less than " .. fmt_num(s.exclusiveMaximum)
    end
  elseif tv == "string" then
    local wants_text = s.minLength ~= nil or s.maxLength ~= nil or s.pattern ~= nil
      or s.format ~= nil or s.type ~= nil
    if wants_text then
      local len = ulen(v)
      if not len then return "must be valid UTF-8" end
      if s.minLength ~= nil and len < s.minLength then
        if s.minLength == 1 then return "must not be empty" end
        return "must be at least " .. plural(s.minLength, "character") .. " long"
      end
      if s.maxLength ~= nil and len > s.maxLength then
        return "must be at most " .. plural(s.maxLength, "character") .. " long"
      end
      if s.pattern ~= nil and not sfind(v, s.pattern) then
        return "must match the pattern " .. s.pattern
      end
      if s.format ~= nil then
        local f = FORMAT_CHECK[s.format]
        if not f[1](v) then return f[2] end
      end
    end
  elseif tv == "table" and (s.minItems ~= nil or s.maxItems ~= nil) then
    local arr, n = is_array(v, null)
    if arr then
      if s.minItems ~= nil and n < s.minItems then
        return "must have at least " .. plural(s.minItems, "item")
      end
      if s.maxItems ~= nil and n > s.maxItems then
        return "must have at most " .. plural(s.maxItems, "item")
      end
    end
  end
  return nil
end

local function walk(s, v, path, null, errs)
  local msg, fatal = node_error(s, v, null)
  if msg then
    errs[#errs + 1] = { field = path, message = msg }
    if fatal then return end
  end
  if type(v) ~= "table" or (null ~= nil and v == null) then return end

  local props, req, addl = s.properties, s.required, s.additionalProperties
  if (props ~= nil or req ~= nil or addl ~= nil) and is_object(v, null) then
    local required = {}
    local names, seen = {}, {}
    local function add(n)
      if not seen[n] then seen[n] = true; names[#names + 1] = n end
    end
    if req then for _, n in ipairs(req) do required[n] = true; add(n) end end
    if props then for n in pairs(props) do add(n) end end
    for n in pairs(v) do add(n) end
    tsort(names)
    for _, n in ipairs(names) do
      local fv, p = v[n], child(path, n)
      if fv == nil then
        if required[n] then errs[#errs + 1] = { field = p, message = "is required" } end
      elseif props and props[n] ~= nil then
        walk(props[n], fv, p, null, errs)
      elseif addl == false then
        errs[#errs + 1] = { field = p, message = "is not allowed" }
      elseif type(addl) == "table" then
        walk(addl, fv, p, null, errs)
      end
    end
  end

  local items = s.items
  if items ~= nil then
    local arr, n = is_array(v, null)
    if arr then
      for i = 1, n do
        walk(items, v[i], path .. "[" .. (i - 1) .. "]", null, errs)
      end
    end
  end
end

function M.validate(schema, value, opts)
  if not checked[schema] then
    local err = check(schema, "", 0)
    if err then error(err, 2) end
    checked[schema] = true
  end
  local null = opts and opts.null or nil
  local errs = {}
  walk(schema, value, "", null, errs)
  return errs
end

return M
