/*
 * provider_mock.c: the offline provider. It answers from the request alone, so the same request always gets
 * the same answer (byte for byte, in any process): no clock, no randomness beyond a seed hashed from the
 * last user message (FNV-1a), and JSON written here with object members in sorted order.
 *
 * What it answers, first match wins:
 *   - the request has tools and no tool result yet: a call of the FIRST tool (id "mock_call_1") with
 *     arguments generated from its parameters schema; text "", finish_reason "tool_calls";
 *   - a schema: the JSON text of a value that satisfies it (schema.lua's subset), with plausible values picked
 *     by property name (email, name, company, phone, url, dates, scores, prices, sentences, ...);
 *   - json: {"answer": "<sentence>"};
 *   - else "[mock] Acknowledged: <the start of the last user message>".
 * usage: prompt_tokens = characters of system + messages / 4, completion_tokens = characters of the answer
 * (or of the tool arguments) / 4, both at least 1; model = the requested model, else "mock".
 *
 * Value generation (gen_value) walks the schema with raw table access only. Supported: const, enum (a seeded
 * pick), type (a name or a list: the first non-null one; inferred from the keywords when absent), properties
 * and required (every property generated, additionalProperties ignored), items, minItems/maxItems (2 items
 * unless bounded; at most MAX_ITEMS), minimum/maximum/exclusiveMinimum/exclusiveMaximum, minLength/maxLength
 * (UTF-8 characters), format (email, date, date-time, uri), and a Lua `pattern` when a slug of the value or
 * one of a few short spellings matches it.
 * The text is built in an ag_buf kept in a userdata with __gc, so a raise (out of memory) cannot leak it.
 */
#include <ctype.h>
#include <math.h>
#include <string.h>

#include "provider_int.h"

#define MAX_DEPTH 32
#define MAX_ITEMS 1000
#define EXCERPT 80

enum { T_STRING, T_NUMBER, T_INTEGER, T_BOOLEAN, T_OBJECT, T_ARRAY, T_NULL };

typedef struct gen_s {
    lua_State *L;
    ag_buf_t *out;
} gen_t;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV_BASIS 0xcbf29ce484222325ULL

/* ---- the output buffer ------------------------------------------------------------------------------------- */

static char box_mt_key; /* registry key of the buffer userdata's metatable */

static int l_box_gc(lua_State *L)
{
    ag_buf_free(lua_touserdata(L, 1));
    return 0;
}

/* Pushes a userdata holding an empty ag_buf_t, freed by __gc (or earlier by the caller). */
static ag_buf_t *push_box(lua_State *L)
{
    ag_buf_t *b = lua_newuserdatauv(L, sizeof(*b), 0);
    ag_buf_init(b);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &box_mt_key) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, l_box_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &box_mt_key);
    }
    lua_setmetatable(L, -2);
    return b;
}

/* ---- schema access ----------------------------------------------------------------------------------------- */

/* Pushes s[key] (raw) and returns its type. */
static int field(lua_State *L, int s, const char *key)
{
    lua_pushstring(L, key);
    return lua_rawget(L, s);
}

static int has_field(lua_State *L, int s, const char *key)
{
    int t = field(L, s, key);
    lua_pop(L, 1);
    return t != LUA_TNIL;
}

/* 1 and *out = s[key] when it is a number. */
static int num_field(lua_State *L, int s, const char *key, double *out)
{
    int ok = field(L, s, key) == LUA_TNUMBER;
    if (ok)
        *out = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return ok && isfinite(*out);
}

static int type_code(const char *name)
{
    static const char *const names[] = {"string", "number", "integer", "boolean", "object", "array", "null"};
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

/* The type to generate for schema s: its type (the first non-null one of a list), else inferred. */
static int schema_type(lua_State *L, int s)
{
    int code = -1;
    int t = field(L, s, "type");
    if (t == LUA_TSTRING) {
        code = type_code(lua_tostring(L, -1));
    } else if (t == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = 1; i <= n; i++) {
            int c = lua_rawgeti(L, -1, i) == LUA_TSTRING ? type_code(lua_tostring(L, -1)) : -1;
            lua_pop(L, 1);
            if (c >= 0 && (code < 0 || code == T_NULL))
                code = c;
        }
    }
    lua_pop(L, 1);
    if (code >= 0)
        return code;
    if (has_field(L, s, "properties") || has_field(L, s, "required") || has_field(L, s, "additionalProperties"))
        return T_OBJECT;
    if (has_field(L, s, "items") || has_field(L, s, "minItems") || has_field(L, s, "maxItems"))
        return T_ARRAY;
    if (has_field(L, s, "minimum") || has_field(L, s, "maximum") || has_field(L, s, "exclusiveMinimum") ||
        has_field(L, s, "exclusiveMaximum"))
        return T_NUMBER;
    return T_STRING;
}

/* ---- names ------------------------------------------------------------------------------------------------- */

static void lower(const char *name, char *out, size_t sz)
{
    size_t i = 0;
    for (; name[i] && i + 1 < sz; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    out[i] = '\0';
}

static int any(const char *lname, const char *const *words)
{
    for (; *words; words++)
        if (strstr(lname, *words))
            return 1;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- values ------------------------------------------------------------------------------------------------ */

static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

/* Bytes of the first `chars` characters of s[0..n). */
static size_t utf8_prefix(const char *s, size_t n, size_t chars)
{
    size_t i = 0;
    for (size_t c = 0; i < n; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80 && c++ == chars)
            break;
    }
    return i;
}

/* The plausible string for a property called name (lower-cased in lname); writes into tmp when needed. */
static const char *string_for(const char *name, const char *lname, const char *format, uint64_t h, char *tmp,
                              size_t sz)
{
    if (format && strcmp(format, "email") == 0)
        return "alex.morgan@example.com";
    if (format && strcmp(format, "date") == 0)
        return "2026-01-15";
    if (format && strcmp(format, "date-time") == 0)
        return "2026-01-15T09:30:00Z";
    if (format && strcmp(format, "uri") == 0)
        return "https://northwind.example.com";
    if (strstr(lname, "email"))
        return "alex.morgan@example.com";
    if (any(lname, WORDS("phone", "mobile")))
        return "+1 555 0142";
    if (any(lname, WORDS("url", "website", "homepage", "link")))
        return "https://northwind.example.com";
    if (ends_with(lname, "_at") || any(lname, WORDS("timestamp", "datetime", "date_time")))
        return "2026-01-15T09:30:00Z";
    if (any(lname, WORDS("date", "deadline", "birthday")))
        return "2026-01-15";
    if (any(lname, WORDS("summary", "description", "reason", "rationale", "explanation", "justification", "note",
                         "comment", "message", "analysis", "feedback", "answer", "reply", "details"))) {
        snprintf(tmp, sz, "This is a deterministic mock %s, generated offline.", name);
        return tmp;
    }
    if (any(lname, WORDS("company", "organization", "organisation", "employer", "business")))
        return "Northwind Studio";
    if (any(lname, WORDS("first_name", "firstname", "given_name")))
        return "Alex";
    if (any(lname, WORDS("last_name", "lastname", "surname", "family_name")))
        return "Morgan";
    if (strstr(lname, "name"))
        return "Alex Morgan";
    if (any(lname, WORDS("title", "role", "position", "job")))
        return "Head of Operations";
    if (strstr(lname, "city"))
        return "Lisbon";
    if (strstr(lname, "country"))
        return "Portugal";
    if (strstr(lname, "address"))
        return "12 Harbour Street, Lisbon";
    if (strstr(lname, "currency"))
        return "USD";
    if (strstr(lname, "industry"))
        return "Software";
    if (strcmp(lname, "id") == 0 || ends_with(lname, "_id")) {
        snprintf(tmp, sz, "mock-%08x", (unsigned)(h & 0xffffffffu));
        return tmp;
    }
    snprintf(tmp, sz, "mock %s", *name ? name : "value");
    return tmp;
}

/* Does Lua pattern pat find a match in v (the real string.find, protected: a malformed pattern matches
 * nothing)? The schema language's `pattern` is a Lua pattern. */
static int matches(lua_State *L, const char *pat, const char *v, size_t n)
{
    int top = lua_gettop(L);
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "string");
    lua_getfield(L, -1, "find");
    lua_pushlstring(L, v, n);
    lua_pushstring(L, pat);
    int ok = lua_pcall(L, 2, 1, 0) == LUA_OK && !lua_isnil(L, -1);
    lua_settop(L, top);
    return ok;
}

static void gen_string(gen_t *g, int s, const char *name, uint64_t h)
{
    lua_State *L = g->L;
    char lname[64], tmp[320];
    lower(name, lname, sizeof(lname));
    const char *format = NULL;
    double minl = 0, maxl = -1;
    if (s) {
        if (field(L, s, "format") == LUA_TSTRING)
            format = lua_tostring(L, -1); /* stays referenced by the schema */
        lua_pop(L, 1);
        num_field(L, s, "minLength", &minl);
        if (!num_field(L, s, "maxLength", &maxl))
            maxl = -1;
    }
    char safe[256]; /* the name cut to 60 characters (at most 240 bytes), for the strings built from it */
    size_t nl = utf8_prefix(name, strlen(name), 60);
    memcpy(safe, name, nl);
    safe[nl] = '\0';
    const char *v = string_for(safe, lname, format, h, tmp, sizeof(tmp));
    size_t len = strlen(v), chars = utf8_chars(v, len);
    if (maxl >= 0 && (double)chars > maxl) {
        len = utf8_prefix(v, len, (size_t)maxl);
        chars = (size_t)maxl;
    }
    ag_buf_t t; /* nothing below raises */
    ag_buf_init(&t);
    ag_buf_put(&t, v, len);
    static const char filler[] = " lorem ipsum dolor sit amet";
    for (size_t i = 0; (double)chars < minl; i++, chars++)
        ag_buf_putc(&t, filler[i % (sizeof(filler) - 1)]);
    const char *pat = NULL;
    if (s && field(L, s, "pattern") == LUA_TSTRING)
        pat = lua_tostring(L, -1); /* stays referenced by the schema */
    if (s)
        lua_pop(L, 1);
    if (pat != NULL && !matches(L, pat, t.data ? t.data : "", t.len)) {
        /* the first of a few plausible spellings that the Lua pattern accepts */
        char slug[320];
        size_t k = 0;
        for (size_t i = 0; i < t.len && k + 1 < sizeof(slug); i++) {
            char c = t.data[i];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
                slug[k++] = c;
            else if (k > 0 && slug[k - 1] != '-')
                slug[k++] = '-';
        }
        while (k > 0 && slug[k - 1] == '-')
            k--;
        slug[k] = '\0';
        const char *cands[] = {slug, "mock", "mock-1", "a", "A", "1", "example", "MOCK", "mock_1", "a1"};
        for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
            size_t cl = strlen(cands[i]);
            if (cl > 0 && matches(L, pat, cands[i], cl)) {
                t.len = 0;
                ag_buf_put(&t, cands[i], cl);
                break;
            }
        }
    }
    ag_buf_json_str(g->out, t.data ? t.data : "", t.len);
    ag_buf_free(&t);
}

static void put_number(ag_buf_t *b, double v)
{
    char tmp[64];
    if (v == floor(v) && fabs(v) < 1e300) {
        snprintf(tmp, sizeof(tmp), "%.0f", v);
        ag_buf_puts(b, strcmp(tmp, "-0") == 0 ? "0" : tmp);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    ag_buf_puts(b, tmp);
}

/* A round number strictly between lo and hi (finite, lo < hi), else their middle. */
static double nice_between(double lo, double hi)
{
    double span = hi - lo, mid = lo + span / 2;
    if (!(span > 0))
        return lo;
    double step = pow(10, floor(log10(span)));
    for (int i = 0; i < 6; i++, step /= 10) {
        double c = step >= 1 ? round(mid / step) * step : round(mid * round(1 / step)) / round(1 / step);
        if (c > lo && c < hi)
            return c;
    }
    return mid;
}

typedef struct range_s {
    double lo, hi;
    int lo_x, hi_x; /* exclusive */
} range_t;

static int in_range(const range_t *r, double v)
{
    return isfinite(v) && (r->lo_x ? v > r->lo : v >= r->lo) && (r->hi_x ? v < r->hi : v <= r->hi);
}

static void gen_number(gen_t *g, int s, const char *name, int integer)
{
    lua_State *L = g->L;
    char lname[64];
    lower(name, lname, sizeof(lname));
    range_t r = {-INFINITY, INFINITY, 0, 0};
    double v;
    if (num_field(L, s, "minimum", &v))
        r.lo = v;
    if (num_field(L, s, "exclusiveMinimum", &v) && v >= r.lo)
        r.lo = v, r.lo_x = 1;
    if (num_field(L, s, "maximum", &v))
        r.hi = v;
    if (num_field(L, s, "exclusiveMaximum", &v) && v <= r.hi)
        r.hi = v, r.hi_x = 1;
    if (integer) { /* the same bounds, inclusive and integral */
        r.lo = r.lo_x ? floor(r.lo) + 1 : ceil(r.lo);
        r.hi = r.hi_x ? ceil(r.hi) - 1 : floor(r.hi);
        r.lo_x = r.hi_x = 0;
    }
    /* What a value called name usually is, and where in a [lo, hi] range it sits (frac < 0: anywhere). */
    double pref = 42, frac = -1;
    if (any(lname, WORDS("probability", "confidence", "likelihood", "certainty"))) {
        pref = integer ? 80 : 0.8;
        frac = 0.8;
    } else if (any(lname, WORDS("score", "rating", "rank"))) {
        pref = 72;
        frac = 0.72;
    } else if (any(lname, WORDS("percent", "pct"))) {
        pref = 35;
        frac = 0.35;
    } else if (any(lname, WORDS("price", "amount", "budget", "cost", "revenue", "salary", "total", "spend", "fee")))
        pref = 25000;
    else if (any(lname, WORDS("employees", "headcount", "team_size", "company_size")))
        pref = 250;
    else if (strcmp(lname, "year") == 0 || ends_with(lname, "_year"))
        pref = 2026;
    else if (strcmp(lname, "age") == 0 || ends_with(lname, "_age"))
        pref = 34;
    else if (any(lname, WORDS("days", "duration")))
        pref = 30;
    else if (any(lname, WORDS("count", "quantity", "qty", "number")))
        pref = 3;
    int flo = isfinite(r.lo), fhi = isfinite(r.hi);
    double cand[6];
    int n = 0;
    cand[n++] = pref;
    if (flo && fhi && frac >= 0) {
        double c = r.lo + frac * (r.hi - r.lo);
        cand[n++] = integer ? round(c) : round(c * 100) / 100;
    }
    if (flo && fhi)
        cand[n++] = nice_between(r.lo, r.hi);
    else if (flo)
        cand[n++] = nice_between(r.lo, r.lo + fmax(10, fabs(r.lo)));
    else if (fhi)
        cand[n++] = nice_between(r.hi - fmax(10, fabs(r.hi)), r.hi);
    cand[n++] = flo && fhi ? r.lo + (r.hi - r.lo) / 2 : 0;
    cand[n++] = r.lo;
    cand[n++] = r.hi;
    for (int i = 0; i < n; i++) {
        double c = integer ? round(cand[i]) : cand[i];
        if (in_range(&r, c)) {
            put_number(g->out, c);
            return;
        }
    }
    put_number(g->out, flo ? r.lo : fhi ? r.hi : 0); /* no value satisfies the bounds */
}

/* Appends the JSON text of the Lua value at idx. */
static void put_lua_value(gen_t *g, int idx)
{
    ag_llm_json_encode(g->L, idx); /* text */
    size_t n;
    const char *s = lua_tolstring(g->L, -1, &n);
    ag_buf_put(g->out, s, n);
    lua_pop(g->L, 1);
}

/* The smallest property name of schema s greater than prev (NULL: the first), from properties and required;
 * NULL when there is none. The string stays referenced by the schema. */
static const char *next_name(lua_State *L, int s, const char *prev)
{
    const char *best = NULL;
    if (field(L, s, "properties") == LUA_TTABLE) { /* props */
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) == LUA_TSTRING) {
                const char *k = lua_tostring(L, -1);
                if ((prev == NULL || strcmp(k, prev) > 0) && (best == NULL || strcmp(k, best) < 0))
                    best = k;
            }
        }
    }
    lua_pop(L, 1);
    if (field(L, s, "required") == LUA_TTABLE) { /* req */
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_rawgeti(L, -1, i) == LUA_TSTRING) {
                const char *k = lua_tostring(L, -1);
                if ((prev == NULL || strcmp(k, prev) > 0) && (best == NULL || strcmp(k, best) < 0))
                    best = k;
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return best;
}

/* Appends the JSON text of a value satisfying the schema at s (0: no schema) for a property called name.
 * root_object: the value must be an object (tool arguments); "{}" when the schema wants something else. */
static void gen_value(gen_t *g, int s, const char *name, uint64_t h, int depth, int root_object)
{
    lua_State *L = g->L;
    luaL_checkstack(L, 8, "llm: mock schema");
    if (s == 0 || !lua_istable(L, s)) {
        if (root_object)
            ag_buf_puts(g->out, "{}");
        else
            gen_string(g, 0, name, h);
        return;
    }
    int top = lua_gettop(L);
    if (field(L, s, "const") != LUA_TNIL) {
        if (root_object && !lua_istable(L, -1))
            ag_buf_puts(g->out, "{}");
        else
            put_lua_value(g, -1);
        lua_settop(L, top);
        return;
    }
    lua_pop(L, 1);
    if (field(L, s, "enum") == LUA_TTABLE && lua_rawlen(L, -1) > 0) {
        lua_rawgeti(L, -1, (lua_Integer)(h % lua_rawlen(L, -1)) + 1);
        if (root_object && !lua_istable(L, -1))
            ag_buf_puts(g->out, "{}");
        else
            put_lua_value(g, -1);
        lua_settop(L, top);
        return;
    }
    lua_pop(L, 1);
    int type = schema_type(L, s);
    if (root_object && type != T_OBJECT) {
        ag_buf_puts(g->out, "{}");
        return;
    }
    if (depth > MAX_DEPTH) { /* a schema that nests this deep (or contains itself): stop */
        ag_buf_puts(g->out, type == T_ARRAY ? "[]" : type == T_OBJECT ? "{}" : "null");
        return;
    }
    switch (type) {
    case T_OBJECT: {
        ag_buf_putc(g->out, '{');
        const char *prev = NULL;
        for (const char *k; (k = next_name(L, s, prev)) != NULL; prev = k) {
            if (prev)
                ag_buf_putc(g->out, ',');
            ag_buf_json_str(g->out, k, strlen(k));
            ag_buf_putc(g->out, ':');
            int sub = 0;
            if (field(L, s, "properties") == LUA_TTABLE) { /* props */
                lua_pushstring(L, k);
                if (lua_rawget(L, -2) == LUA_TTABLE) /* props, sub */
                    sub = lua_gettop(L);
            }
            gen_value(g, sub, k, fnv(h, k, strlen(k)), depth + 1, 0);
            lua_settop(L, top);
        }
        ag_buf_putc(g->out, '}');
        break;
    }
    case T_ARRAY: {
        double lo = 0, hi = -1;
        num_field(L, s, "minItems", &lo);
        if (!num_field(L, s, "maxItems", &hi))
            hi = -1;
        double n = 2;
        if (hi >= 0 && n > hi)
            n = hi;
        if (n < lo)
            n = lo;
        if (n > MAX_ITEMS)
            n = MAX_ITEMS;
        int items = field(L, s, "items") == LUA_TTABLE ? lua_gettop(L) : 0;
        ag_buf_putc(g->out, '[');
        for (int i = 0; i < (int)n; i++) {
            if (i > 0)
                ag_buf_putc(g->out, ',');
            gen_value(g, items, name, fnv(h, &i, sizeof(i)), depth + 1, 0);
        }
        ag_buf_putc(g->out, ']');
        lua_settop(L, top);
        break;
    }
    case T_NUMBER:
    case T_INTEGER:
        gen_number(g, s, name, type == T_INTEGER);
        break;
    case T_BOOLEAN:
        ag_buf_puts(g->out, "true");
        break;
    case T_NULL:
        ag_buf_puts(g->out, "null");
        break;
    default:
        gen_string(g, s, name, h);
    }
}

/* ---- answer ------------------------------------------------------------------------------------------------ */

/* Writes the start of s (at most EXCERPT bytes, whole characters, control characters as spaces) into out. */
static void excerpt(const char *s, size_t n, char *out, size_t sz)
{
    size_t len = n;
    if (len > EXCERPT) {
        len = EXCERPT;
        while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
            len--;
    }
    size_t i = 0;
    for (; i < len && i + 4 < sz; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
    if (len < n && i + 4 < sz)
        memcpy(out + i, "...", 3), i += 3;
    out[i] = '\0';
}

static void set_string(lua_State *L, int t, const char *key, const char *s, size_t n)
{
    lua_pushlstring(L, s, n);
    lua_setfield(L, t, key);
}

static void answer(lua_State *L, int req)
{
    req = lua_absindex(L, req);
    luaL_checkstack(L, 24, "llm: mock");
    int top = lua_gettop(L);

    /* What the request says: its size, the last user message (the seed) and whether a tool already answered. */
    size_t prompt_chars = 0, last_len = 0;
    const char *last = NULL;
    int tool_answered = 0;
    if (lua_getfield(L, req, "system") == LUA_TSTRING) /* top+1: system */
        prompt_chars += lua_rawlen(L, -1);
    int msgs = lua_getfield(L, req, "messages") == LUA_TTABLE ? lua_gettop(L) : 0; /* top+2 */
    lua_Integer nmsgs = msgs ? (lua_Integer)lua_rawlen(L, msgs) : 0;
    for (lua_Integer i = 1; i <= nmsgs; i++) {
        if (lua_rawgeti(L, msgs, i) == LUA_TTABLE) { /* m */
            lua_getfield(L, -1, "role");             /* m, role */
            const char *role = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
            tool_answered |= strcmp(role, "tool") == 0;
            if (lua_getfield(L, -2, "content") == LUA_TSTRING) { /* m, role, content: kept alive by m */
                size_t n;
                const char *c = lua_tolstring(L, -1, &n);
                prompt_chars += n;
                if (strcmp(role, "user") == 0)
                    last = c, last_len = n;
            }
        }
        lua_settop(L, top + 2);
    }
    uint64_t seed = fnv(FNV_BASIS, last ? last : "", last_len);
    char ex[EXCERPT + 8];
    excerpt(last ? last : "", last_len, ex, sizeof(ex));

    ag_buf_t *out = push_box(L); /* top+3 */
    gen_t g = {.L = L, .out = out};
    lua_createtable(L, 0, 6); /* top+4: res */
    int res = lua_gettop(L);
    size_t completion_chars;
    const char *finish = "stop";

    int tools = lua_getfield(L, req, "tools") == LUA_TTABLE && lua_rawlen(L, -1) > 0 ? lua_gettop(L) : 0;
    if (tools && !tool_answered) {
        lua_rawgeti(L, tools, 1); /* tools, tool */
        int tool = lua_istable(L, -1) ? lua_gettop(L) : 0;
        int name = tool && lua_getfield(L, tool, "name") == LUA_TSTRING ? lua_gettop(L) : 0;
        int params = tool && lua_getfield(L, tool, "parameters") == LUA_TTABLE ? lua_gettop(L) : 0;
        gen_value(&g, params, "", seed, 0, 1);
        ag_llm_json_decode(L, out->data, out->len); /* ..., arguments */
        lua_createtable(L, 0, 3);                   /* ..., arguments, tc */
        lua_pushliteral(L, "mock_call_1");
        lua_setfield(L, -2, "id");
        if (name)
            lua_pushvalue(L, name);
        else
            lua_pushliteral(L, "tool");
        lua_setfield(L, -2, "name");
        lua_insert(L, -2);
        lua_setfield(L, -2, "arguments");
        lua_createtable(L, 1, 0); /* ..., tc, calls */
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
        lua_setfield(L, res, "tool_calls");
        set_string(L, res, "text", "", 0);
        completion_chars = out->len;
        finish = "tool_calls";
    } else {
        if (lua_getfield(L, req, "schema") == LUA_TTABLE) {
            gen_value(&g, lua_gettop(L), "", seed, 0, 0);
        } else if (ag__llm_wants_json(L, req)) {
            ag_buf_puts(out, "{\"answer\":");
            char sentence[EXCERPT + 64];
            snprintf(sentence, sizeof(sentence), "Mock answer to: %s", last ? ex : "(no message)");
            ag_buf_json_str(out, sentence, strlen(sentence));
            ag_buf_putc(out, '}');
        } else {
            ag_buf_puts(out, last ? "[mock] Acknowledged: " : "[mock] Acknowledged.");
            ag_buf_puts(out, last ? ex : "");
        }
        set_string(L, res, "text", out->data ? out->data : "", out->len);
        completion_chars = out->len;
    }
    lua_settop(L, res);
    ag_buf_free(out);

    lua_createtable(L, 0, 2); /* res, usage */
    lua_pushinteger(L, prompt_chars / 4 > 0 ? (lua_Integer)(prompt_chars / 4) : 1);
    lua_setfield(L, -2, "prompt_tokens");
    lua_pushinteger(L, completion_chars / 4 > 0 ? (lua_Integer)(completion_chars / 4) : 1);
    lua_setfield(L, -2, "completion_tokens");
    lua_setfield(L, res, "usage");
    if (lua_getfield(L, req, "model") != LUA_TSTRING) {
        lua_pop(L, 1);
        lua_pushliteral(L, "mock");
    }
    lua_setfield(L, res, "model");
    lua_pushstring(L, finish);
    lua_setfield(L, res, "finish_reason");
    lua_replace(L, top + 1); /* top+1: res */
    lua_settop(L, top + 1);
}

const ag_llm_provider_t ag_llm_mock = {.name = "mock", .build = NULL, .parse = NULL, .answer = answer};
