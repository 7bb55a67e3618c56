/*
 * api_pattern.c: string.find, string.match, string.gmatch and string.gsub for the sandbox.
 *
 * Lua's own versions run their backtracking matcher in C, where the count hook never fires, so a
 * pattern such as '.-.-.-.-b' against a long subject could hold a loop thread for hours. These are a
 * separate implementation of the Lua 5.4 pattern language (reference manual §6.4.1) with the same
 * results and error messages, whose matcher counts its work: every step (each entry into the matcher,
 * each iteration of a repetition loop, bytes scanned by %b, back-references and long sets) adds to a
 * counter that is charged to the run's CPU budget (ag__rt_charge) once per PAT_CHARGE_UNIT steps.
 * A run over its budget therefore fails with "cpu budget exceeded" inside the match.
 *
 * Subjects and patterns are Lua strings, which always have a '\0' after their last byte; the matcher
 * relies on that to peek one byte past the end of the pattern (the item after the last one reads as
 * '\0', which is no quantifier, no ')' and no '[').
 */
#include <ctype.h>
#include <string.h>

#include "runtime_int.h"

#define PAT_MAXCAPTURES 32    /* as LUA_MAXCAPTURES */
#define PAT_MAXDEPTH 200      /* nested matcher calls before "pattern too complex" (as Lua's MAXCCALLS) */
#define PAT_CHARGE_UNIT 1024  /* steps accumulated before they are charged */
#define PAT_SPECIALS "^$*+?.([%-"

#define CAP_OPEN (-1)     /* capture started, not yet closed */
#define CAP_POSITION (-2) /* () capture: its value is a position */

#define UC(c) ((unsigned char)(c))

typedef struct pat_state_s {
    lua_State *L;
    const char *src, *src_end; /* the subject */
    const char *pat_end;       /* end of the pattern */
    int depth;                 /* nested matcher calls still allowed */
    int level;                 /* captures started */
    int64_t steps;             /* work not yet charged */
    struct {
        const char *at;
        ptrdiff_t len; /* length, or CAP_OPEN / CAP_POSITION */
    } cap[PAT_MAXCAPTURES];
} pat_state_t;

/* ---- accounting -------------------------------------------------------------------------------------------- */

static void pat_charge(pat_state_t *ms)
{
    int64_t whole = ms->steps - ms->steps % PAT_CHARGE_UNIT;
    ms->steps -= whole;
    ag__rt_charge(ms->L, whole);
}

static inline void pat_step(pat_state_t *ms, int64_t n)
{
    ms->steps += n;
    if (ms->steps >= PAT_CHARGE_UNIT)
        pat_charge(ms);
}

static void pat_init(pat_state_t *ms, lua_State *L, const char *s, size_t ls, const char *p, size_t lp)
{
    ms->L = L;
    ms->src = s;
    ms->src_end = s + ls;
    ms->pat_end = p + lp;
    ms->steps = 0;
}

/* Before each attempt at a new subject position. */
static void pat_reset(pat_state_t *ms)
{
    ms->level = 0;
    ms->depth = PAT_MAXDEPTH;
}

/* ---- single items ------------------------------------------------------------------------------------------- */

/* Whether byte c belongs to class letter cl (%a, %d, ...; an upper-case letter is the complement); any
 * other character after '%' stands for itself. Classes use the C library's ctype, as Lua does. */
static int class_has(int c, int cl)
{
    int in;
    switch (tolower(cl)) {
    case 'a': in = isalpha(c); break;
    case 'c': in = iscntrl(c); break;
    case 'd': in = isdigit(c); break;
    case 'g': in = isgraph(c); break;
    case 'l': in = islower(c); break;
    case 'p': in = ispunct(c); break;
    case 's': in = isspace(c); break;
    case 'u': in = isupper(c); break;
    case 'w': in = isalnum(c); break;
    case 'x': in = isxdigit(c); break;
    case 'z': in = c == 0; break; /* deprecated since 5.2, still accepted by Lua 5.4 */
    default: return cl == c;
    }
    if (isupper(cl))
        in = !in;
    return in != 0;
}

/* The end of the single-character item at p: past "%x", past "[...]", else p + 1. */
static const char *item_end(pat_state_t *ms, const char *p)
{
    char c = *p++;
    if (c == '%') {
        if (p >= ms->pat_end)
            luaL_error(ms->L, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (c == '[') {
        if (*p == '^')
            p++;
        /* the first member is taken literally, so "[]]" and "[^]]" are sets holding ']' */
        do {
            if (p >= ms->pat_end)
                luaL_error(ms->L, "malformed pattern (missing ']')");
            c = *p++;
            if (c == '%' && p < ms->pat_end)
                p++; /* "%]" is a member, not the end */
        } while (*p != ']');
        return p + 1;
    }
    return p;
}

/* Whether c is in the set that opens at p ('[') and closes at close (']'). */
static int set_has(pat_state_t *ms, int c, const char *p, const char *close)
{
    int found = 1;
    p++;
    if (*p == '^') {
        found = 0;
        p++;
    }
    if (close - p > 32)
        pat_step(ms, (close - p) >> 2); /* long sets cost more than a step */
    for (; p < close; p++) {
        if (*p == '%') {
            p++;
            if (class_has(c, UC(*p)))
                return found;
        } else if (p[1] == '-' && p + 2 < close) {
            if (UC(p[0]) <= c && c <= UC(p[2]))
                return found;
            p += 2;
        } else if (UC(*p) == c) {
            return found;
        }
    }
    return !found;
}

/* Whether the subject byte at s matches the single item p..end. */
static int item_matches(pat_state_t *ms, const char *s, const char *p, const char *end)
{
    if (s >= ms->src_end)
        return 0;
    int c = UC(*s);
    switch (*p) {
    case '.': return 1;
    case '%': return class_has(c, UC(p[1]));
    case '[': return set_has(ms, c, p, end - 1);
    default: return UC(*p) == c;
    }
}

/* ---- the matcher -------------------------------------------------------------------------------------------- */

static const char *do_match(pat_state_t *ms, const char *s, const char *p);

/* item* (item+ after its first byte): as many as possible, then give back one at a time. */
static const char *repeat_greedy(pat_state_t *ms, const char *s, const char *p, const char *end)
{
    ptrdiff_t n = 0;
    while (item_matches(ms, s + n, p, end)) {
        n++;
        pat_step(ms, 1);
    }
    for (; n >= 0; n--) {
        pat_step(ms, 1);
        const char *r = do_match(ms, s + n, end + 1);
        if (r != NULL)
            return r;
    }
    return NULL;
}

/* item-: as few as possible, one more at a time. */
static const char *repeat_lazy(pat_state_t *ms, const char *s, const char *p, const char *end)
{
    for (;;) {
        pat_step(ms, 1);
        const char *r = do_match(ms, s, end + 1);
        if (r != NULL)
            return r;
        if (!item_matches(ms, s, p, end))
            return NULL;
        s++;
    }
}

static const char *capture_open(pat_state_t *ms, const char *s, const char *p, ptrdiff_t kind)
{
    if (ms->level >= PAT_MAXCAPTURES)
        luaL_error(ms->L, "too many captures");
    int l = ms->level++;
    ms->cap[l].at = s;
    ms->cap[l].len = kind;
    const char *r = do_match(ms, s, p);
    if (r == NULL)
        ms->level--;
    return r;
}

static const char *capture_close(pat_state_t *ms, const char *s, const char *p)
{
    int l = ms->level - 1;
    while (l >= 0 && ms->cap[l].len != CAP_OPEN)
        l--;
    if (l < 0)
        luaL_error(ms->L, "invalid pattern capture");
    ms->cap[l].len = s - ms->cap[l].at;
    const char *r = do_match(ms, s, p);
    if (r == NULL)
        ms->cap[l].len = CAP_OPEN;
    return r;
}

/* %1..%9 in a pattern: the text of a closed capture again (a position capture never matches). */
static const char *backref(pat_state_t *ms, const char *s, int digit)
{
    int l = digit - '1';
    if (l < 0 || l >= ms->level || ms->cap[l].len == CAP_OPEN)
        luaL_error(ms->L, "invalid capture index %%%d", l + 1);
    if (ms->cap[l].len < 0)
        return NULL;
    size_t len = (size_t)ms->cap[l].len;
    pat_step(ms, (int64_t)(len >> 4));
    if ((size_t)(ms->src_end - s) >= len && memcmp(ms->cap[l].at, s, len) == 0)
        return s + len;
    return NULL;
}

/* %bxy at p (pointing at x): from an x at s to its matching y. */
static const char *balanced(pat_state_t *ms, const char *s, const char *p)
{
    if (p + 1 >= ms->pat_end)
        luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= ms->src_end || *s != p[0])
        return NULL;
    char open = p[0], close = p[1];
    const char *from = s;
    int nest = 1;
    while (++s < ms->src_end) {
        if (*s == close) {
            if (--nest == 0) {
                pat_step(ms, s - from);
                return s + 1;
            }
        } else if (*s == open) {
            nest++;
        }
    }
    pat_step(ms, s - from);
    return NULL;
}

/* Matches pattern p (to ms->pat_end) at s; returns the end of the match or NULL. Tail positions loop
 * instead of recursing, so only captures, '?' and repetitions nest (at most PAT_MAXDEPTH deep). */
static const char *do_match(pat_state_t *ms, const char *s, const char *p)
{
    if (ms->depth-- == 0)
        luaL_error(ms->L, "pattern too complex");
    for (;;) {
        pat_step(ms, 1);
        if (p == ms->pat_end)
            break;
        switch (*p) {
        case '(':
            if (p[1] == ')')
                s = capture_open(ms, s, p + 2, CAP_POSITION);
            else
                s = capture_open(ms, s, p + 1, CAP_OPEN);
            goto out;
        case ')':
            s = capture_close(ms, s, p + 1);
            goto out;
        case '$':
            if (p + 1 == ms->pat_end) { /* anchor only as the last character */
                if (s != ms->src_end)
                    s = NULL;
                goto out;
            }
            break;
        case '%':
            switch (p[1]) {
            case 'b':
                s = balanced(ms, s, p + 2);
                if (s == NULL)
                    goto out;
                p += 4;
                continue;
            case 'f': {
                p += 2;
                if (*p != '[')
                    luaL_error(ms->L, "missing '[' after '%%f' in pattern");
                const char *end = item_end(ms, p);
                int before = s == ms->src ? 0 : UC(s[-1]);
                int here = s < ms->src_end ? UC(*s) : 0;
                if (!set_has(ms, before, p, end - 1) && set_has(ms, here, p, end - 1)) {
                    p = end;
                    continue;
                }
                s = NULL;
                goto out;
            }
            case '0': case '1': case '2': case '3': case '4':
            case '5': case '6': case '7': case '8': case '9':
                s = backref(ms, s, UC(p[1]));
                if (s == NULL)
                    goto out;
                p += 2;
                continue;
            default:
                break;
            }
            break;
        default:
            break;
        }
        /* a single-character item, maybe followed by a quantifier */
        const char *end = item_end(ms, p);
        char q = *end;
        if (!item_matches(ms, s, p, end)) {
            if (q == '*' || q == '?' || q == '-') { /* zero repetitions will do */
                p = end + 1;
                continue;
            }
            s = NULL;
            goto out;
        }
        switch (q) {
        case '?': {
            const char *r = do_match(ms, s + 1, end + 1);
            if (r != NULL) {
                s = r;
                goto out;
            }
            p = end + 1;
            continue;
        }
        case '+':
            s = repeat_greedy(ms, s + 1, p, end);
            goto out;
        case '*':
            s = repeat_greedy(ms, s, p, end);
            goto out;
        case '-':
            s = repeat_lazy(ms, s, p, end);
            goto out;
        default:
            s++;
            p = end;
            continue;
        }
    }
out:
    ms->depth++;
    return s;
}

/* ---- captures ----------------------------------------------------------------------------------------------- */

/* Capture i of the match s..e: sets *text and returns its length, or pushes the position and returns
 * CAP_POSITION. With no captures, capture 0 is the whole match. */
static ptrdiff_t capture_get(pat_state_t *ms, int i, const char *s, const char *e, const char **text)
{
    if (i >= ms->level) {
        if (i != 0)
            luaL_error(ms->L, "invalid capture index %%%d", i + 1);
        *text = s;
        return e - s;
    }
    ptrdiff_t len = ms->cap[i].len;
    *text = ms->cap[i].at;
    if (len == CAP_OPEN)
        luaL_error(ms->L, "unfinished capture");
    else if (len == CAP_POSITION)
        lua_pushinteger(ms->L, (ms->cap[i].at - ms->src) + 1);
    return len;
}

static void capture_push(pat_state_t *ms, int i, const char *s, const char *e)
{
    const char *text;
    ptrdiff_t len = capture_get(ms, i, s, e, &text);
    if (len != CAP_POSITION)
        lua_pushlstring(ms->L, text, (size_t)len);
}

/* Pushes every capture (the whole match s..e when there are none and s is not NULL). */
static int captures_push(pat_state_t *ms, const char *s, const char *e)
{
    int n = (ms->level == 0 && s != NULL) ? 1 : ms->level;
    luaL_checkstack(ms->L, n, "too many captures");
    for (int i = 0; i < n; i++)
        capture_push(ms, i, s, e);
    return n;
}

/* ---- find / match ------------------------------------------------------------------------------------------- */

/* A 1-based start position from a possibly negative init (0 and anything before the start mean 1). */
static size_t start_pos(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return (size_t)pos;
    if (pos == 0 || pos < -(lua_Integer)len)
        return 1;
    return len + (size_t)pos + 1;
}

static int has_specials(const char *p, size_t lp)
{
    for (size_t i = 0; i < lp; i++)
        if (p[i] != '\0' && strchr(PAT_SPECIALS, p[i]) != NULL)
            return 1;
    return 0;
}

static int find_or_match(lua_State *L, int find)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_pos(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    pat_state_t ms;
    if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
        const char *hit = memmem(s + init, ls - init, p, lp);
        pat_init(&ms, L, s, ls, p, lp);
        pat_step(&ms, (int64_t)(((hit ? (size_t)(hit - s) + lp : ls) - init) >> 4));
        if (hit != NULL) {
            lua_pushinteger(L, (lua_Integer)(hit - s) + 1);
            lua_pushinteger(L, (lua_Integer)(hit - s) + (lua_Integer)lp);
            return 2;
        }
        luaL_pushfail(L);
        return 1;
    }
    int anchored = *p == '^';
    if (anchored) {
        p++;
        lp--;
    }
    pat_init(&ms, L, s, ls, p, lp);
    const char *at = s + init;
    for (;;) {
        pat_reset(&ms);
        const char *e = do_match(&ms, at, p);
        if (e != NULL) {
            if (!find)
                return captures_push(&ms, at, e);
            lua_pushinteger(L, (at - s) + 1);
            lua_pushinteger(L, e - s);
            return captures_push(&ms, NULL, NULL) + 2;
        }
        if (anchored || at >= ms.src_end)
            break;
        at++;
    }
    luaL_pushfail(L);
    return 1;
}

static int l_find(lua_State *L)
{
    return find_or_match(L, 1);
}

static int l_match(lua_State *L)
{
    return find_or_match(L, 0);
}

/* ---- gmatch ------------------------------------------------------------------------------------------------- */

typedef struct gmatch_state_s {
    const char *at;        /* where the next search starts */
    const char *p;         /* the pattern ('^' has no special meaning here) */
    const char *last_end;  /* end of the previous match: an empty match there is skipped */
    pat_state_t ms;
} gmatch_state_t;

static int gmatch_next(lua_State *L)
{
    gmatch_state_t *gm = lua_touserdata(L, lua_upvalueindex(3));
    gm->ms.L = L;
    gm->ms.steps = 0;
    for (const char *at = gm->at; at <= gm->ms.src_end; at++) {
        pat_reset(&gm->ms);
        const char *e = do_match(&gm->ms, at, gm->p);
        if (e != NULL && e != gm->last_end) {
            gm->at = gm->last_end = e;
            return captures_push(&gm->ms, at, e);
        }
    }
    gm->at = gm->ms.src_end + 1; /* exhausted: later calls return nothing at once */
    return 0;
}

static int l_gmatch(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_pos(luaL_optinteger(L, 3, 1), ls) - 1;
    lua_settop(L, 2); /* the closure keeps subject and pattern alive */
    gmatch_state_t *gm = lua_newuserdatauv(L, sizeof(*gm), 0);
    if (init > ls)
        init = ls + 1;
    pat_init(&gm->ms, L, s, ls, p, lp);
    gm->at = s + init;
    gm->p = p;
    gm->last_end = NULL;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

/* ---- gsub --------------------------------------------------------------------------------------------------- */

/* Appends the replacement string (argument 3) for the match s..e: %0 the match, %1..%9 captures, %%. */
static void append_template(pat_state_t *ms, luaL_Buffer *b, const char *s, const char *e)
{
    lua_State *L = ms->L;
    size_t len;
    const char *t = lua_tolstring(L, 3, &len);
    const char *pct;
    while ((pct = memchr(t, '%', len)) != NULL) {
        luaL_addlstring(b, t, (size_t)(pct - t));
        char c = pct[1]; /* '\0' past the end */
        if (c == '%') {
            luaL_addchar(b, '%');
        } else if (c == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (isdigit(UC(c))) {
            const char *text;
            ptrdiff_t n = capture_get(ms, c - '1', s, e, &text);
            if (n == CAP_POSITION)
                luaL_addvalue(b);
            else
                luaL_addlstring(b, text, (size_t)n);
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", '%');
        }
        len -= (size_t)(pct + 2 - t);
        t = pct + 2;
    }
    luaL_addlstring(b, t, len);
}

/* Appends the replacement for the match s..e; returns whether it differs from keeping the match. */
static int append_replacement(pat_state_t *ms, luaL_Buffer *b, const char *s, const char *e, int kind)
{
    lua_State *L = ms->L;
    if (kind == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        int n = captures_push(ms, s, e);
        lua_call(L, n, 1);
    } else if (kind == LUA_TTABLE) {
        capture_push(ms, 0, s, e);
        lua_gettable(L, 3);
    } else {
        append_template(ms, b, s, e);
        return 1;
    }
    if (!lua_toboolean(L, -1)) { /* nil or false: keep the match */
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return 0;
    }
    if (!lua_isstring(L, -1))
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return 1;
}

static int l_gsub(lua_State *L)
{
    size_t ls, lp;
    const char *src = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int kind = lua_type(L, 3);
    lua_Integer max_n = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    luaL_argexpected(L, kind == LUA_TNUMBER || kind == LUA_TSTRING || kind == LUA_TFUNCTION || kind == LUA_TTABLE,
                     3, "string/function/table");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int anchored = *p == '^';
    if (anchored) {
        p++;
        lp--;
    }
    pat_state_t ms;
    pat_init(&ms, L, src, ls, p, lp);
    const char *last_end = NULL;
    lua_Integer n = 0;
    int changed = 0;
    while (n < max_n) {
        pat_reset(&ms);
        const char *e = do_match(&ms, src, p);
        if (e != NULL && e != last_end) {
            n++;
            changed |= append_replacement(&ms, &b, src, e, kind);
            src = last_end = e;
        } else if (src < ms.src_end) {
            luaL_addchar(&b, *src++);
        } else {
            break;
        }
        if (anchored)
            break;
    }
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, src, (size_t)(ms.src_end - src));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

/* ---- registration ------------------------------------------------------------------------------------------- */

void ag_lua_register_patterns(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"find", l_find}, {"match", l_match}, {"gmatch", l_gmatch}, {"gsub", l_gsub}, {NULL, NULL}};
    luaL_setfuncs(L, funcs, 0);
}
