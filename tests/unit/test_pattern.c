/*
 * test_pattern.c: the sandbox's string.find/match/gmatch/gsub (engine/lua/api_pattern.c), differentially
 * against Lua's own string library in the same state: every case runs once with F = the real `string`
 * table and once with F = ours, and the results (values, their types, the count of values) or the
 * error messages must be the same. Then a seeded random sweep of patterns and subjects, and the CPU
 * accounting: pathological patterns fail under a module's load budget instead of hanging.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "../../engine/lua/runtime.h"
#include "../../engine/lua/runtime_int.h"

/* ---- the driver ---------------------------------------------------------------------------------------------- */

/*
 * check(src) loads "return pack(<src>)" twice, with F bound to the real library and to ours, runs both
 * and compares. Returns true, or false and a description of the difference. collect(iter) gathers
 * what a gmatch iterator yields (each call's packed values, up to the first empty one).
 * The driver calls real.* explicitly: in this state the string metatable points at the sandbox copy.
 */
static const char *DRIVER =
    "local real, ours = ...\n"
    "local rgsub, rformat, rrep = real.gsub, real.format, real.rep\n"
    "local function pack(...) return { n = select('#', ...), ... } end\n"
    "local function collect(it)\n"
    "  local out = {}\n"
    "  for i = 1, 200 do\n"
    "    local r = pack(it())\n"
    "    out[#out + 1] = r\n"
    "    if r[1] == nil then break end\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "local function same(a, b)\n"
    "  if type(a) ~= type(b) then return false end\n"
    "  if type(a) == 'number' then return math.type(a) == math.type(b) and a == b end\n"
    "  if type(a) == 'table' then\n"
    "    for k, v in pairs(a) do if not same(v, b[k]) then return false end end\n"
    "    for k in pairs(b) do if a[k] == nil then return false end end\n"
    "    return true\n"
    "  end\n"
    "  return a == b\n"
    "end\n"
    "local function show(v)\n"
    "  if type(v) == 'table' then\n"
    "    local parts = {}\n"
    "    for i = 1, (v.n or #v) do parts[#parts + 1] = show(v[i]) end\n"
    "    return '{' .. table.concat(parts, ', ') .. '}'\n"
    "  elseif type(v) == 'string' then return rformat('%q', v)\n"
    "  elseif type(v) == 'number' then return math.type(v) .. ' ' .. tostring(v)\n"
    "  end\n"
    "  return tostring(v)\n"
    "end\n"
    "local function strip(e)\n"
    "  e = tostring(e)\n"
    "  return (rgsub(e, '^[^\\n]-:%d+: ', ''))\n"
    "end\n"
    "local function run(lib, src)\n"
    "  local env = setmetatable({ F = lib, pack = pack, collect = collect, rep = rrep }, { __index = _G })\n"
    "  local chunk, err = load('return pack(' .. src .. ')', '=case', 't', env)\n"
    "  if not chunk then error('case does not compile: ' .. err) end\n"
    "  local ok, res = pcall(chunk)\n"
    "  if ok then return true, res end\n"
    "  return false, strip(res)\n"
    "end\n"
    "count = { ok = 0, err = 0 }\n"
    "function check(src)\n"
    "  local ok1, r1 = run(real, src)\n"
    "  local ok2, r2 = run(ours, src)\n"
    "  if ok1 ~= ok2 or not same(r1, r2) then\n"
    "    return false, 'lua: ' .. (ok1 and show(r1) or 'error ' .. show(r1)) ..\n"
    "                  '\\n    ours: ' .. (ok2 and show(r2) or 'error ' .. show(r2))\n"
    "  end\n"
    "  if ok1 then count.ok = count.ok + 1 else count.err = count.err + 1 end\n"
    "  return true\n"
    "end\n";

typedef struct fixture_s {
    ag_rt_t *rt;
    lua_State *L;
} fixture_t;

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    ag_err_t err;
    if (ag_rt_new(&fx->rt, &(ag_rt_opts_t){0}, &err) != 0) {
        fprintf(stderr, "ag_rt_new: %s\n", err.msg);
        return -1;
    }
    lua_State *L = fx->L = ag_rt_lua(fx->rt);
    if (luaL_loadstring(L, DRIVER) != LUA_OK) {
        fprintf(stderr, "driver: %s\n", lua_tostring(L, -1));
        return -1;
    }
    lua_getglobal(L, "string"); /* the main state's _G holds Lua's own libraries */
    lua_newtable(L);
    ag_lua_register_patterns(L);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        fprintf(stderr, "driver: %s\n", lua_tostring(L, -1));
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    ag_rt_free(fx->rt);
    free(fx);
    return 0;
}

/* Runs check(src); prints the difference and returns 1 when there is one. */
static int differs(lua_State *L, const char *src)
{
    lua_getglobal(L, "check");
    lua_pushstring(L, src);
    if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
        fprintf(stderr, "DRIVER FAILED on  %s\n    %s\n", src, lua_tostring(L, -1));
        lua_pop(L, 1);
        return 1;
    }
    int bad = !lua_toboolean(L, -2);
    if (bad)
        fprintf(stderr, "DIFFERS  %s\n    %s\n", src, lua_tostring(L, -1));
    lua_pop(L, 2);
    return bad;
}

static lua_Integer count_of(lua_State *L, const char *field)
{
    lua_getglobal(L, "count");
    lua_getfield(L, -1, field);
    lua_Integer n = lua_tointeger(L, -1);
    lua_pop(L, 2);
    return n;
}

/* ---- cases ------------------------------------------------------------------------------------------------- */

static const char *const CASES[] = {
    /* find: plain text, init, the plain flag */
    "F.find('hello world', 'o')",
    "F.find('hello world', 'o', 6)",
    "F.find('hello world', 'o', -3)",
    "F.find('hello world', 'o', -100)",
    "F.find('hello world', 'o', 0)",
    "F.find('hello world', 'o', 12)",
    "F.find('hello world', '', 12)",
    "F.find('hello world', '', 13)",
    "F.find('hello world', '', 100)",
    "F.find('hello world', '')",
    "F.find('', '')",
    "F.find('', 'a')",
    "F.find('', '', 2)",
    "F.find('', '.*')",
    "F.find('hello', 'xyz')",
    "F.find('hello', 'hello world')",
    "F.find('a.b.c', '.', 1, true)",
    "F.find('a.b.c', '.', 2, true)",
    "F.find('a+b', '+', 1, true)",
    "F.find('a(b', '(', 1, true)",
    "F.find('a%b', '%', 1, true)",
    "F.find('abc', 'b', 1, 1)",
    "F.find('a.c', '.', nil, true)",
    "F.find('a.c', '.', nil, {})",
    "F.find('abc', '.', 1, false)",
    "F.find('abc', '.', 1, nil)",
    "F.find('a)b', ')')",
    "F.find('a]b', ']')",
    "F.find('a\\0b\\0c', '\\0c')",
    "F.find('a\\0b\\0c', '\\0', 3)",
    "F.find('a\\0b', '%z')",
    "F.find('zz', '%z')",
    "F.find('a\\0b', '%Z+')",
    "F.find('a\\0b', '[%z]')",
    "F.find(12345, 34)",
    "F.find(12345, 3.0)",
    "F.find('abc', 'b', 2.0)",
    "F.find('abc', 'b', '2')",
    "F.find('x^y', '^y')",
    "F.find('x^y', 'x^y')",
    "F.find('aaa', '^a', 2)",
    "F.find('baa', '^a', 2)",
    "F.find('abc$', 'c$')",
    "F.find('abc$', 'c$', 1, true)",
    "F.find('a$c', '$c')",
    "F.find('a$c', 'a$c')",
    "F.find('abc', '$')",
    "F.find('abc', '^$')",
    "F.find('', '^$')",
    "F.find('abc', '^abc$')",
    /* captures out of find */
    "F.find('hello world', '(o)(r)')",
    "F.find('hello world', 'l(l)(o)')",
    "F.find('hello', '()ll()')",
    "F.find('key = value', '(%w+)%s*=%s*(%w+)')",
    /* match: classes */
    "F.match('abc123DEF', '%a+')",
    "F.match('abc123DEF', '%d+')",
    "F.match('abc123DEF', '%u+')",
    "F.match('abc123DEF', '%l+')",
    "F.match('abc123DEF', '%A+')",
    "F.match('abc123DEF', '%D+')",
    "F.match('abc123DEF', '%U+')",
    "F.match('abc123DEF', '%L+')",
    "F.match('  \\t\\n x', '%s+')",
    "F.match('  \\t\\n x', '%S+')",
    "F.match('a,b;c!', '%p')",
    "F.match('a,b;c!', '%P+')",
    "F.match('ab\\1\\2cd', '%c+')",
    "F.match('ab\\1\\2cd', '%C+')",
    "F.match('0x1fG', '%x+', 3)",
    "F.match('0x1fG', '%X+', 3)",
    "F.match('foo_bar9 baz', '%w+')",
    "F.match('foo_bar9 baz', '%W+')",
    "F.match('a b\\tc', '%g+')",
    "F.match('a b\\tc', '%G+')",
    "F.match('a.b', '%.')",
    "F.match('a%b', '%%')",
    "F.match('a-b', '%-')",
    "F.match('a]b', '%]')",
    "F.match('\\200\\255abc', '[\\128-\\255]+')",
    "F.match('\\200\\255abc', '%a+')",
    /* sets */
    "F.match('hello', '[aeiou]+')",
    "F.match('hello', '[^aeiou]+')",
    "F.match('hello', '[a-f]+')",
    "F.match('HeLLo', '[A-Z]+')",
    "F.match('x-y', '[a-]+')",
    "F.match('x-y-a', '[-a]+', 2)",
    "F.match('a]b', '[]]')",
    "F.match('a]b', '[^]]+')",
    "F.match('a^b', '[b^]+')",
    "F.match('a^b', '[%^]')",
    "F.match('ab12', '[%d]+')",
    "F.match('ab12', '[%a%d]+')",
    "F.match('ab-12', '[%a-]+')",
    "F.match('a%b', '[%%]')",
    "F.match('a]b', '[%]]')",
    "F.match('z', '[a-]')",
    "F.match('-', '[a-]')",
    "F.match('c', '[a-c-e]')",
    "F.match('d', '[a-c-e]')",
    "F.match('-', '[a-c-e]')",
    "F.match('b', '[z-a]')",
    "F.match('abc', '[^%a]')",
    "F.match('ab c', '[^%S]')",
    "F.match('\\0a', '[\\0]')",
    /* quantifiers */
    "F.match('aaab', 'a*')",
    "F.match('aaab', 'a+')",
    "F.match('aaab', 'a-')",
    "F.match('aaab', 'a-b')",
    "F.match('aaab', 'a?')",
    "F.match('aaab', 'a?a?a?a?b')",
    "F.match('b', 'a*b')",
    "F.match('b', 'a+b')",
    "F.match('b', 'a-b')",
    "F.match('b', 'a?b')",
    "F.match('<a><b>', '<.*>')",
    "F.match('<a><b>', '<.->')",
    "F.match('abc', '.-$')",
    "F.match('abc', '.-')",
    "F.match('*a', '*a')",
    "F.match('a**', 'a**')",
    "F.match('+', '+')",
    "F.match('a-', '-')",
    "F.match('?', '?')",
    "F.match('aaa', '^a-$')",
    "F.match('xaaay', 'a+', 3)",
    "F.match('ab', 'a%d*b')",
    "F.match('a12b', 'a[0-9]-b')",
    /* anchors */
    "F.match('hello', '^h')",
    "F.match('hello', '^e')",
    "F.match('hello', 'o$')",
    "F.match('hello', 'l$')",
    "F.match('hello', '^hello$')",
    "F.match('hello', '^$')",
    "F.match('^x', '^^x')",
    "F.match('a$b', 'a$b')",
    "F.match('hello', '^l', 3)",
    "F.match('hello', '^l', -2)",
    "F.match('hello', '$', 3)",
    /* captures */
    "F.match('hello world', '(%w+) (%w+)')",
    "F.match('hello', '(h)(e)(l)(l)(o)')",
    "F.match('hello', '((h)(e))')",
    "F.match('hello', '()')",
    "F.match('hello', '()', 3)",
    "F.match('hello', '()ll()')",
    "F.match('hello', '(l)()')",
    "F.match('', '()')",
    "F.match('hello', '(h(e(l)))')",
    "F.match('abc', '(a)(b?)(x*)')",
    "F.match('date: 2024-01-31', '(%d+)-(%d+)-(%d+)')",
    "F.match(' trim me  ', '^%s*(.-)%s*$')",
    /* back-references */
    "F.match('hello', '(l)%1')",
    "F.match('abcabc', '(abc)%1')",
    "F.match('abcab', '(abc)%1')",
    "F.match([[say \"hi\" and 'bye']], [[([\"'])(.-)%1]])",
    "F.match('xyzxyzxyz', '(x)(y)(z)%1%2%3')",
    "F.match('aa', '(()a)%2')",
    "F.match('aa', '()a%1')",
    "F.match('abab', '((a)b)%1')",
    "F.match('abcabc', '(a(b)c)%2')",
    /* %b */
    "F.match('f(a(b)c) d', '%b()')",
    "F.match('f(a(b)c d', '%b()')",
    "F.match('x[[y]]z', '%b[]')",
    "F.match('\"a\" \"b\"', '%b\"\"')",
    "F.match('aXbXcY', '%bXY')",
    "F.match('{a}{b}', '%b{}%b{}')",
    "F.match('((x)', '%b()')",
    "F.match('', '%b()')",
    "F.find('if (a and (b or c)) then', '%b()')",
    /* %f */
    "F.find('THE (quick) fox', '%f[%a]%a+')",
    "F.find('THE (quick) fox', '%f[%a]%a+', 5)",
    "F.match('hello world', '%f[%w]%w+$')",
    "F.match('THE (quick) fox', '%f[%l]%a+')",
    "F.find('foo', '%f[%z]')",
    "F.find('foo', '%f[\\0]')",
    "F.find('foo bar', '%f[%s]')",
    "F.find('foo', '%f[^\\0]')",
    "F.find('', '%f[%a]')",
    "F.find('', '%f[^%a]')",
    "F.match('xAAy', '%f[A]A+%f[^A]')",
    /* gmatch */
    "collect(F.gmatch('hello world from Lua', '%a+'))",
    "collect(F.gmatch('k1=v1, k2=v2', '(%w+)=(%w+)'))",
    "collect(F.gmatch('abc', ''))",
    "collect(F.gmatch('abc', '()'))",
    "collect(F.gmatch('abc', '.-'))",
    "collect(F.gmatch('abc', 'x*'))",
    "collect(F.gmatch('a,b,,c', '([^,]*)'))",
    "collect(F.gmatch('^a^b', '^.'))",
    "collect(F.gmatch('hello world', '%a+', 3))",
    "collect(F.gmatch('hello world', '%a+', -5))",
    "collect(F.gmatch('hello world', '%a+', -100))",
    "collect(F.gmatch('hello world', '%a+', 0))",
    "collect(F.gmatch('hello', '.', 6))",
    "collect(F.gmatch('hello', '', 6))",
    "collect(F.gmatch('hello', '', 7))",
    "collect(F.gmatch('hello', '', 100))",
    "collect(F.gmatch('', ''))",
    "collect(F.gmatch('a1b22c333', '%d+()'))",
    "collect(F.gmatch('(a)(b(c))', '%b()'))",
    "collect(F.gmatch('THE (quick) fox', '%f[%a]%a+'))",
    "collect(F.gmatch('aaa', 'a$'))",
    "collect(F.gmatch(123123, 3))",
    "collect(F.gmatch('ab', '%'))",
    "collect(F.gmatch('ab', '(a'))",
    "(function() local it = F.gmatch('aXa', 'a') return it(), it(), it(), it() end)()",
    "(function() local it = F.gmatch('', '') return it(), it(), it() end)()",
    "(function() local it = F.gmatch('ab', 'b', 9) return it(), it() end)()",
    /* gsub: string replacements */
    "F.gsub('hello world', 'o', '0')",
    "F.gsub('hello world', 'o', '0', 1)",
    "F.gsub('hello world', 'o', '0', 0)",
    "F.gsub('hello world', 'o', '0', -1)",
    "F.gsub('hello world', 'o', '0', 1.0)",
    "F.gsub('hello world', '(o)', '[%1]')",
    "F.gsub('hello world', 'o', '[%0]')",
    "F.gsub('hello world', 'o', '[%1]')",
    "F.gsub('hello world', '(%w+) (%w+)', '%2 %1')",
    "F.gsub('hello', 'l', '%%')",
    "F.gsub('hello', 'l', '100%%')",
    "F.gsub('hello', '()l', '%1')",
    "F.gsub('hello', '', '-')",
    "F.gsub('', '', '-')",
    "F.gsub('abc', '.-', '-')",
    "F.gsub('abc', 'x*', '-')",
    "F.gsub('abc', '%w*', '<%0>')",
    "F.gsub('abc', '^', '>')",
    "F.gsub('abc', '$', '<')",
    "F.gsub('abc', '^a', 'A')",
    "F.gsub('aaa', '^a', 'A')",
    "F.gsub('abc', '^x', 'A')",
    "F.gsub('hello world', '%w+', '%0 %0', 1)",
    "F.gsub('abc', 'b', 5)",
    "F.gsub('abc', 'b', 5.5)",
    "F.gsub(12345, 3, 9)",
    "F.gsub(12345, 'x', 9)",
    "F.gsub('a.b.c', '%.', '%%.')",
    "F.gsub('a\\0b', '\\0', '<nul>')",
    "F.gsub('abc', 'b', 'x\\0y')",
    "F.gsub('hello', 'l+', function(m) return '<' .. m .. '>' end)",
    "F.gsub('hello', '(h)(e)', function(a, b) return b .. a end)",
    "F.gsub('hello', 'l', function() return nil end)",
    "F.gsub('hello', 'l', function() return false end)",
    "F.gsub('hello', 'l', function() return 42 end)",
    "F.gsub('hello', 'l', function() return 4.5 end)",
    "F.gsub('hello', '()', function(p) return p end)",
    "F.gsub('hello', '', function() return '.' end)",
    "F.gsub('hello world', '%w+', function(w) return #w > 4 and w:upper() or nil end)",
    "F.gsub('$name is $age', '%$(%w+)', { name = 'Bob', age = 42 })",
    "F.gsub('$name is $x', '%$(%w+)', { name = 'Bob' })",
    "F.gsub('$name is $x', '%$(%w+)', { name = false })",
    "F.gsub('hello', '%w', { h = 'H', o = 0 })",
    "F.gsub('hello', '()l', { [3] = 'L' })",
    "F.gsub('abc', '%w', setmetatable({}, { __index = function(t, k) return k:upper() end }))",
    "F.gsub('hello', 'l', { l = {} })",
    "F.gsub('hello', 'l', function() return {} end)",
    "F.gsub('hello', 'l', function() return true end)",
    "F.gsub('hello', 'l', function() error('boom') end)",
    "F.gsub('abc', '(a', 'x')",
    "F.gsub('abc', '(a', '%1')",
    "F.gsub('abc', '(a', {})",
    "F.gsub('abc', '(a', function(...) return select('#', ...) end)",
    "F.gsub('abc abc', '(a)(b)(c)', '%3%2%1')",
    "F.gsub('abc', '', '', 2)",
    "F.gsub('aaa', '^a', 'b', 0)",
    "F.gsub('abc', '%w', '%0', math.maxinteger)",
    "F.gsub('abc', '%w', '%0', math.mininteger)",
    "F.gsub('abc', '%w', '%0', 1.5)",
    "F.find({}, 'a')",
    "F.find('abc', 'b', math.mininteger)",
    "F.find('abc', 'b', math.maxinteger)",
    "F.find('abc', '', -3)",
    "F.find('abc', '', -4)",
    /* errors: malformed patterns */
    "F.find('abc', '%')",
    "F.find('abc', 'a%')",
    "F.match('abc', '%')",
    "F.find('abc', '[a')",
    "F.find('abc', '[')",
    "F.find('abc', '[]')",
    "F.find('abc', '[^]')",
    "F.find('abc', '[a%')",
    "F.find('abc', '[a%]')",
    "F.find('abc', '%f')",
    "F.find('abc', '%fa')",
    "F.find('abc', '%f[a')",
    "F.find('abc', '%1')",
    "F.find('abc', '%0')",
    "F.find('abc', '(a)%2')",
    "F.find('abc', '(a%1)')",
    "F.find('abc', '%9')",
    "F.match('abc', 'a)')",
    "F.find('abc', 'b)')",
    "F.find('abc', 'x)')",
    "F.match('abc', '(a')",
    "F.find('abc', '(a')",
    "F.match('abc', '(a)(b')",
    "F.find('abc', '%b')",
    "F.find('abc', '%ba')",
    "F.find('abc', 'a%b')",
    "F.match('a', rep('(', 32) .. 'a' .. rep(')', 32))",
    "F.match('a', rep('(', 33) .. 'a' .. rep(')', 33))",
    "F.match(rep('a', 300), rep('a?', 300))",
    "F.match(rep('a', 198), rep('a?', 198))",
    "F.match(rep('a', 199), rep('a?', 199))",
    "F.match(rep('a', 200), rep('a?', 200))",
    "F.match(rep('a', 201), rep('a?', 201))",
    "F.match(rep('a', 300), rep('(a)', 40))",
    "F.gsub('abc', 'b', '%')",
    "F.gsub('abc', 'b', 'x%')",
    "F.gsub('abc', 'b', '%x')",
    "F.gsub('abc', 'b', '%2')",
    "F.gsub('abc', '(b)', '%2')",
    "F.gsub('abc', 'b', '%9')",
    "F.gsub('abc', 'x', '%')",
    "F.gsub('abc', 'b', { b = true })",
    /* errors: arguments */
    "F.find()",
    "F.find('abc')",
    "F.find('abc', {})",
    "F.find('abc', 'b', 'x')",
    "F.find('abc', 'b', 1.5)",
    "F.match(nil, 'a')",
    "F.gmatch('abc')",
    "F.gmatch('abc', 'b', 'x')",
    "F.gsub('abc', 'b')",
    "F.gsub('abc', 'b', true)",
    "F.gsub('abc', 'b', 'x', 'y')",
    "F.gsub({}, 'b', 'x')",
    "('abc'):find({})",
    "('abc'):gsub('b')",
    /* the method form goes through the string metatable (the sandbox copy, which is ours for both) */
    "('hello'):find('l+')",
    "('hello'):gsub('l', 'L')",
    /* longer subjects */
    "F.find(rep('ab', 500) .. 'c', '(ab)*c')",
    "F.find(rep('ab', 500) .. 'c', 'b-c')",
    "F.gsub(rep('hello world ', 100), '(%w+) (%w+)', '%2 %1')",
    "F.match(rep('a', 100), '^(a-)(a+)$')",
    "F.match(rep('x', 50) .. 'y', '(x*)(x*)y')",
    "collect(F.gmatch(rep('a1 ', 50), '(%a)(%d)'))",
};

static void test_differential_cases(void **state)
{
    fixture_t *fx = *state;
    size_t n = sizeof(CASES) / sizeof(CASES[0]);
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += differs(fx->L, CASES[i]);
    fprintf(stderr, "pattern: %zu cases (%lld results, %lld errors compared), %d differ\n", n,
            (long long)count_of(fx->L, "ok"), (long long)count_of(fx->L, "err"), bad);
    assert_true(n >= 150);
    assert_int_equal(bad, 0);
}

/* ---- random sweep ------------------------------------------------------------------------------------------ */

/* Seeded random patterns built from the pattern language's pieces (well-formed or not) and short
 * subjects, through all four functions; every difference is printed. */
static const char *SWEEP =
    "local seed, rounds = ...\n"
    "math.randomseed(seed)\n"
    "local pieces = { 'a', 'b', 'c', '.', '%a', '%d', '%s', '%W', '%l', '%U', '%p', '[ab]', '[^a]', '[a-c]',\n"
    "  '[%d(]', '[]a]', '*', '+', '-', '?', '(', ')', '()', '%1', '%2', '^', '$', '%b()', '%bab', '%f[%w]',\n"
    "  '%f[^a]', '%', '[', ']', '%%', '%(', 'x', ' ', '1', '%z', '\\0' }\n"
    "local chars = { 'a', 'b', 'c', '(', ')', ' ', '1', '2', 'x', '%', 'A', '\\0', '.' }\n"
    "local repls = { \"'<%0>'\", \"'%1'\", \"'%2-%1'\", \"'%%'\", \"'x%'\", \"'%3'\",\n"
    "  'function(...) return select(\"#\", ...) end', '{ a = 1, b = false }', \"'q'\" }\n"
    "local function q(s) return string.format('%q', s) end\n"
    "local bad, total = 0, 0\n"
    "for i = 1, rounds do\n"
    "  local p = {}\n"
    "  for j = 1, math.random(1, 7) do p[j] = pieces[math.random(#pieces)] end\n"
    "  local s = {}\n"
    "  for j = 1, math.random(0, 10) do s[j] = chars[math.random(#chars)] end\n"
    "  local ps, ss = q(table.concat(p)), q(table.concat(s))\n"
    "  local init = ({ '', ', 1', ', 3', ', -2', ', 0', ', 20' })[math.random(6)]\n"
    "  local cases = {\n"
    "    'F.find(' .. ss .. ', ' .. ps .. init .. ')',\n"
    "    'F.match(' .. ss .. ', ' .. ps .. init .. ')',\n"
    "    'collect(F.gmatch(' .. ss .. ', ' .. ps .. init .. '))',\n"
    "    'F.gsub(' .. ss .. ', ' .. ps .. ', ' .. repls[math.random(#repls)] ..\n"
    "        (math.random(3) == 1 and ', 2' or '') .. ')',\n"
    "  }\n"
    "  for _, c in ipairs(cases) do\n"
    "    total = total + 1\n"
    "    local ok, why = check(c)\n"
    "    if not ok then\n"
    "      bad = bad + 1\n"
    "      if bad <= 20 then print('DIFFERS  ' .. c .. '\\n    ' .. why) end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return bad, total\n";

static void test_random_sweep(void **state)
{
    fixture_t *fx = *state;
    lua_State *L = fx->L;
    lua_Integer ok0 = count_of(L, "ok"), err0 = count_of(L, "err");
    assert_int_equal(luaL_loadstring(L, SWEEP), LUA_OK);
    lua_pushinteger(L, 20240531);
    lua_pushinteger(L, 5000);
    if (lua_pcall(L, 2, 2, 0) != LUA_OK)
        fail_msg("sweep: %s", lua_tostring(L, -1));
    lua_Integer bad = lua_tointeger(L, -2), total = lua_tointeger(L, -1);
    lua_pop(L, 2);
    fprintf(stderr, "pattern sweep: %lld cases (%lld results, %lld errors compared), %lld differ\n",
            (long long)total, (long long)(count_of(L, "ok") - ok0), (long long)(count_of(L, "err") - err0),
            (long long)bad);
    assert_true(total >= 20000);
    assert_int_equal(bad, 0);
}

/* ---- wiring and CPU accounting ----------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The sandbox's string.find, ("").find, ... are the ones registered here. */
static void test_sandbox_uses_ours(void **state)
{
    fixture_t *fx = *state;
    lua_State *L = fx->L;
    static const char src[] = "return { string.find, ('').find, string.match, ('').match,\n"
                              "  string.gmatch, ('').gmatch, string.gsub, ('').gsub }\n";
    ag_err_t err;
    assert_int_equal(ag_rt_load_module(fx->rt, "wiring.lua", src, sizeof(src) - 1, &err), 0);
    lua_newtable(L);
    ag_lua_register_patterns(L);
    static const char *names[] = {"find", "match", "gmatch", "gsub"};
    for (int i = 0; i < 4; i++) {
        lua_getfield(L, -1, names[i]);
        lua_CFunction want = lua_tocfunction(L, -1);
        assert_non_null(want);
        lua_getglobal(L, "string");
        lua_getfield(L, -1, names[i]);
        assert_true(lua_tocfunction(L, -1) != want); /* not Lua's own */
        lua_pop(L, 3);
        for (int j = 0; j < 2; j++) {
            lua_rawgeti(L, -2, 2 * i + j + 1);
            assert_true(lua_tocfunction(L, -1) == want);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 2);
}

/* Loads src as a module body (20M-instruction load budget; pattern steps count against it) and expects
 * it to fail on the budget within a few seconds. */
static void expect_load_budget(fixture_t *fx, const char *what, const char *src)
{
    ag_err_t err;
    double t0 = now_s();
    int rc = ag_rt_load_module(fx->rt, "patho.lua", src, strlen(src), &err);
    double took = now_s() - t0;
    fprintf(stderr, "pattern: %s: %s after %.2fs\n", what, rc == 0 ? "LOADED" : err.msg, took);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err.msg, "load budget"));
    assert_true(took < 5.0);
}

static void test_pathological_patterns_hit_the_budget(void **state)
{
    fixture_t *fx = *state;
    expect_load_budget(fx, "lazy backtracking",
                       "local s = string.rep('a', 4000)\n"
                       "return string.find(s, '.-.-.-.-.-.-.-.-b')\n");
    expect_load_budget(fx, "greedy backtracking (method form)",
                       "local s = string.rep('a', 4000)\n"
                       "return s:match('.*.*.*.*.*.*b')\n");
    expect_load_budget(fx, "gsub", "return string.gsub(string.rep('a', 4000), '.-.-.-.-.-b', 'x')\n");
    expect_load_budget(fx, "gmatch",
                       "for m in string.gmatch(string.rep('a', 4000), '.-.-.-.-.-b') do end\n"
                       "return true\n");
    expect_load_budget(fx, "balance scans", "return string.find(string.rep('(', 20000), '%b()')\n");
    expect_load_budget(fx, "long set",
                       "return string.find(string.rep('a', 20000), '[' .. string.rep('b', 100000) .. ']')\n");
    expect_load_budget(fx, "back-references",
                       "return string.find(string.rep('a', 3000) .. 'c', '(a*)%1%1b')\n");
    expect_load_budget(fx, "pcall cannot swallow it (retries re-charge)",
                       "for i = 1, 1000 do pcall(string.find, string.rep('a', 3000), '.-.-.-.-b') end\n"
                       "return true\n");
}

/* Ordinary work stays well within a load budget, and the runtime stays usable after a budget failure. */
static void test_ordinary_patterns_fit(void **state)
{
    fixture_t *fx = *state;
    static const char src[] = "local s = string.rep('key = value; ', 2000)\n"
                              "local n = 0\n"
                              "for k, v in s:gmatch('(%w+) = (%w+)') do n = n + 1 end\n"
                              "local t, c = s:gsub('%w+', string.upper)\n"
                              "return { n = n, c = c, f = s:find('value', 1, true), m = s:match('^(%w+)') }\n";
    ag_err_t err;
    assert_int_equal(ag_rt_load_module(fx->rt, "ordinary.lua", src, sizeof(src) - 1, &err), 0);
    lua_State *L = fx->L;
    lua_getfield(L, -1, "n");
    assert_int_equal(lua_tointeger(L, -1), 2000);
    lua_getfield(L, -2, "c");
    assert_int_equal(lua_tointeger(L, -1), 4000);
    lua_getfield(L, -3, "f");
    assert_int_equal(lua_tointeger(L, -1), 7);
    lua_getfield(L, -4, "m");
    assert_string_equal(lua_tostring(L, -1), "key");
    lua_pop(L, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_differential_cases),
        cmocka_unit_test(test_random_sweep),
        cmocka_unit_test(test_sandbox_uses_ours),
        cmocka_unit_test(test_pathological_patterns_hit_the_budget),
        cmocka_unit_test(test_ordinary_patterns_fit),
    };
    return cmocka_run_group_tests_name("pattern", tests, setup, teardown);
}
