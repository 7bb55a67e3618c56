/*
 * handoffs.c: evaluating a succeeded task's handoffs (the .lua files of domains/<domain>/handoffs), the first three
 * of the six steps: validate, extract, transform (and the target type's input schema). The queue hands the
 * results to the store, which does the last three — the handoff package, the target task, the record —
 * in the transaction that stores the source task's success (store_sqlite_flow.c).
 *
 * Handoff functions run on the loop's main Lua state, each protected and under the module-load
 * instruction budget; they are meant to be pure (no llm.chat, memory or sleep: nothing here is a task).
 */
#include <string.h>

#include "runtime_int.h"

typedef struct eval_s {
    const ag_handoff_src_t *src;
    ag_snapshot_t *snap; /* held for the evaluation: a reload cannot free the scripts iterated */
    const char *only;    /* ag_rt_handoff_eval: this handoff alone, whatever its `on` */
    int found;
    ag_handoff_new_t *out;
    size_t n, cap;
} eval_t;

static char *dup_top(lua_State *L)
{
    const char *s = lua_tostring(L, -1);
    return ag_xstrdup(s ? s : "");
}

static ag_handoff_new_t *add(eval_t *e, const ag_script_t *sc, const char *to)
{
    if (e->n == e->cap)
        e->out = ag_xrealloc(e->out, (e->cap = e->cap ? e->cap * 2 : 4) * sizeof(*e->out));
    ag_handoff_new_t *h = &e->out[e->n++];
    memset(h, 0, sizeof(*h));
    h->name = ag_xstrdup(sc->name);
    h->from_domain = ag_xstrdup(sc->domain);
    h->to_type = ag_xstrdup(to);
    const char *dot = strchr(to, '.');
    h->to_domain = dot ? ag_xstrndup(to, (size_t)(dot - to)) : ag_xstrdup(to);
    return h;
}

/* Rejects h with one reason (a plain string). */
static void reject(ag_rt_t *rt, ag_handoff_new_t *h, const char *reason)
{
    lua_State *L = rt->L;
    lua_createtable(L, 1, 0);
    lua_pushstring(L, reason);
    lua_rawseti(L, -2, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->encode_ref);
    lua_insert(L, -2);
    h->accepted = 0;
    if (lua_pcall(L, 1, 1, 0) == LUA_OK)
        h->reasons = (const char *)dup_top(L);
    else
        h->reasons = ag_xstrdup("[\"(unprintable reason)\"]");
    lua_pop(L, 1);
}

/* Does the module at idx trigger on type? (on = "d.t" or a list of them) */
static int triggers(lua_State *L, int idx, const char *type)
{
    int hit = 0;
    int t = lua_getfield(L, idx, "on");
    if (t == LUA_TSTRING) {
        hit = strcmp(lua_tostring(L, -1), type) == 0;
    } else if (t == LUA_TTABLE) {
        for (lua_Integer i = 1; !hit && lua_rawgeti(L, -1, i) == LUA_TSTRING; i++) {
            hit = strcmp(lua_tostring(L, -1), type) == 0;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return hit;
}

/* Calls module[fn](args at a1, a2) bounded; leaves 2 results. Returns the pcall status. */
static int call2(ag_rt_t *rt, int mod, const char *fn, int a1, int a2)
{
    lua_State *L = rt->L;
    lua_getfield(L, mod, fn);
    lua_pushvalue(L, a1);
    lua_pushvalue(L, a2);
    return ag__rt_pcall_bounded(rt, 2, 2);
}

static const char *err_text(lua_State *L)
{
    if (lua_type(L, -1) == LUA_TSTRING)
        return lua_tostring(L, -1);
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "message");
        const char *m = lua_tostring(L, -1);
        lua_pop(L, 1);
        if (m)
            return m;
    }
    return "(error object is not a string)";
}

/* One handoff module (at mod) against the source (result at r, meta at meta). */
static void eval_one(ag_rt_t *rt, eval_t *e, const ag_script_t *sc, int mod, int r, int meta)
{
    lua_State *L = rt->L;
    int top = lua_gettop(L);
    lua_getfield(L, mod, "to");
    char to[300];
    snprintf(to, sizeof(to), "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    lua_pop(L, 1);
    char msg[1200];
    /* 1. when: not applicable means no record at all */
    if (lua_getfield(L, mod, "when") == LUA_TFUNCTION) {
        lua_pop(L, 1);
        if (call2(rt, mod, "when", r, meta) != LUA_OK) {
            snprintf(msg, sizeof(msg), "when: %s", err_text(L));
            reject(rt, add(e, sc, to), msg);
            goto done;
        }
        if (!lua_toboolean(L, -2))
            goto done;
        lua_settop(L, top);
    } else {
        lua_pop(L, 1);
    }
    ag_handoff_new_t *h = add(e, sc, to);
    /* 2. validate: false, {reasons} rejects */
    if (lua_getfield(L, mod, "validate") == LUA_TFUNCTION) {
        lua_pop(L, 1);
        if (call2(rt, mod, "validate", r, meta) != LUA_OK) {
            snprintf(msg, sizeof(msg), "validate: %s", err_text(L));
            reject(rt, h, msg);
            goto done;
        }
        if (!lua_toboolean(L, -2)) {
            if (lua_type(L, -1) == LUA_TSTRING) { /* false, "one reason": a list of one */
                lua_createtable(L, 1, 0);
                lua_insert(L, -2);
                lua_rawseti(L, -2, 1);
            } else if (!lua_istable(L, -1)) {
                lua_pop(L, 1);
                lua_createtable(L, 1, 0);
                lua_pushliteral(L, "validation failed");
                lua_rawseti(L, -2, 1);
            }
            lua_rawgeti(L, LUA_REGISTRYINDEX, rt->encode_ref);
            lua_insert(L, -2);
            if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING && lua_tostring(L, -1)[0] == '[')
                h->reasons = dup_top(L);
            else
                reject(rt, h, "validation failed (its reasons are not a list of strings)");
            h->accepted = 0;
            goto done;
        }
        lua_settop(L, top);
    } else {
        lua_pop(L, 1);
    }
    /* 3. extract (default: the result), then transform */
    int data = r;
    if (lua_getfield(L, mod, "extract") == LUA_TFUNCTION) {
        lua_pop(L, 1);
        if (call2(rt, mod, "extract", r, meta) != LUA_OK) {
            snprintf(msg, sizeof(msg), "extract: %s", err_text(L));
            reject(rt, h, msg);
            goto done;
        }
        lua_pop(L, 1);
        data = lua_gettop(L);
    } else {
        lua_pop(L, 1);
    }
    if (call2(rt, mod, "transform", data, meta) != LUA_OK) {
        snprintf(msg, sizeof(msg), "transform: %s", err_text(L));
        reject(rt, h, msg);
        goto done;
    }
    lua_pop(L, 1);
    int input = lua_gettop(L);
    if (!lua_istable(L, input)) {
        reject(rt, h, "transform must return a table: the target task's input");
        goto done;
    }
    /* the target task type, and its input schema */
    ag_tasktype_t tt;
    ag_err_t err;
    if (ag_rt_task_type(rt, to, &tt, &err) != 0) {
        snprintf(msg, sizeof(msg), "the target task type %s does not exist: %s", to, err.msg);
        reject(rt, h, msg);
        goto done;
    }
    h->to_agent = ag_xstrdup(tt.agent);
    h->max_attempts = tt.max_attempts;
    if (ag_rt_push_task_type(rt, to, &err) == 0) {
        if (lua_getfield(L, -1, "input") == LUA_TTABLE) {
            ag_rt_push_validation(rt, -1, input);
            size_t nerr = lua_rawlen(L, -1);
            if (nerr > 0) {
                lua_createtable(L, (int)nerr, 0);
                for (size_t i = 1; i <= nerr; i++) {
                    lua_rawgeti(L, -2, (lua_Integer)i);
                    lua_getfield(L, -1, "field");
                    lua_getfield(L, -2, "message");
                    lua_pushfstring(L, "%s: %s", lua_tostring(L, -2) ? lua_tostring(L, -2) : "",
                                    lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
                    lua_rawseti(L, -5, (lua_Integer)i);
                    lua_pop(L, 3);
                }
                lua_rawgeti(L, LUA_REGISTRYINDEX, rt->encode_ref);
                lua_insert(L, -2);
                lua_call(L, 1, 1);
                h->reasons = dup_top(L);
                h->accepted = 0;
                goto done;
            }
        }
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->encode_ref);
    lua_pushvalue(L, input);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        snprintf(msg, sizeof(msg), "transform returned a value JSON cannot hold: %s", err_text(L));
        reject(rt, h, msg);
        goto done;
    }
    h->input = dup_top(L);
    h->accepted = 1;
done:
    lua_settop(L, top);
}

static int l_eval(lua_State *L)
{
    eval_t *e = lua_touserdata(L, 1);
    ag_rt_t *rt = ag_rt_of(L);
    const ag_handoff_src_t *src = e->src;
    lua_settop(L, 0);
    int r = 0, meta = 0;
    ag_snapshot_t *snap = e->snap;
    for (size_t i = 0; snap && i < snap->n; i++) {
        const ag_script_t *sc = &snap->items[i];
        if (sc->source == NULL || strcmp(sc->kind, "handoffs") != 0 || strcmp(sc->domain, src->domain) != 0 ||
            (e->only != NULL && strcmp(sc->name, e->only) != 0))
            continue;
        ag_err_t err;
        if (ag__rt_push_script(rt, sc->domain, "handoffs", sc->name, &err) != 0)
            continue;
        int mod = lua_gettop(L);
        if (!lua_istable(L, mod) || (e->only == NULL && !triggers(L, mod, src->type))) {
            lua_settop(L, mod - 1);
            continue;
        }
        e->found = 1;
        if (r == 0) { /* decode once, for the first applicable handoff */
            lua_rawgeti(L, LUA_REGISTRYINDEX, rt->decode_ref);
            lua_pushstring(L, src->result ? src->result : "null");
            lua_call(L, 1, 1);
            lua_createtable(L, 0, 5);
            lua_pushinteger(L, src->task_id);
            lua_setfield(L, -2, "task_id");
            lua_pushstring(L, src->type);
            lua_setfield(L, -2, "task_type");
            lua_pushstring(L, src->domain);
            lua_setfield(L, -2, "domain");
            if (src->workflow_id) {
                lua_pushstring(L, src->workflow_id);
                lua_setfield(L, -2, "workflow_id");
            }
            lua_rawgeti(L, LUA_REGISTRYINDEX, rt->decode_ref);
            lua_pushstring(L, src->input ? src->input : "{}");
            lua_call(L, 1, 1);
            lua_setfield(L, -2, "input");
            lua_rotate(L, mod, 2); /* result, meta below the module */
            r = mod;
            meta = mod + 1;
            mod += 2;
        }
        eval_one(rt, e, sc, mod, r, meta);
        lua_settop(L, mod - 1);
    }
    return 0;
}

int ag__handoffs_any(ag_rt_t *rt, const char *domain, const char *type)
{
    lua_State *L = rt->L;
    int top = lua_gettop(L), any = 0;
    for (size_t i = 0; rt->snap && i < rt->snap->n && !any; i++) {
        const ag_script_t *sc = &rt->snap->items[i];
        ag_err_t err;
        if (sc->source == NULL || strcmp(sc->kind, "handoffs") != 0 || strcmp(sc->domain, domain) != 0 ||
            ag__rt_push_script(rt, sc->domain, "handoffs", sc->name, &err) != 0)
            continue;
        any = lua_istable(L, -1) && triggers(L, lua_gettop(L), type);
        lua_settop(L, top);
    }
    return any;
}

size_t ag_rt_handoffs(ag_rt_t *rt, const ag_handoff_src_t *src, ag_handoff_new_t **out)
{
    *out = NULL;
    if (rt->scripts == NULL || !ag__rt_type_has_handoffs(rt, src->type))
        return 0; /* the common case, answered from the task-type cache */
    eval_t e = {.src = src, .snap = ag_scripts_acquire(rt->scripts)};
    lua_State *L = rt->L;
    int top = lua_gettop(L);
    lua_pushcfunction(L, l_eval);
    lua_pushlightuserdata(L, &e);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) /* decoding the result or input failed, or out of memory */
        lua_pop(L, 1);
    lua_settop(L, top);
    ag_snapshot_release(e.snap);
    *out = e.out;
    return e.n;
}

int ag_rt_handoff_eval(ag_rt_t *rt, const ag_handoff_src_t *src, const char *name, ag_handoff_new_t **out,
                       ag_err_t *err)
{
    *out = NULL;
    eval_t e = {.src = src, .only = name, .snap = rt->scripts ? ag_scripts_acquire(rt->scripts) : NULL};
    lua_State *L = rt->L;
    int top = lua_gettop(L);
    lua_pushcfunction(L, l_eval);
    lua_pushlightuserdata(L, &e);
    int rc = lua_pcall(L, 1, 0, 0) == LUA_OK ? 0 : AG_ESCRIPT;
    if (rc != 0)
        ag_err_set(err, rc, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot evaluate the handoff");
    lua_settop(L, top);
    ag_snapshot_release(e.snap);
    if (rc == 0 && !e.found)
        rc = ag_err_set(err, AG_ENOTFOUND, "no handoff domains/%s/handoffs/%s.lua", src->domain, name);
    if (rc != 0) {
        ag_handoffs_new_free(e.out, e.n);
        return rc;
    }
    *out = e.out;
    return e.n > 0;
}

void ag_handoffs_new_free(ag_handoff_new_t *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)h[i].name);
        free((char *)h[i].from_domain);
        free((char *)h[i].to_domain);
        free((char *)h[i].to_type);
        free((char *)h[i].to_agent);
        free((char *)h[i].reasons);
        free((char *)h[i].input);
    }
    free(h);
}
