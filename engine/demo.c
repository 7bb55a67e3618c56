/*
 * demo.c: `agency demo [--scenario FILE] [--live] [--timeout S] [--keep]` runs the agency loop end to end.
 *
 * It starts an engine in this process (2 loop threads, no HTTP clients but its own), on a temporary SQLite
 * database, with the domains of AGENCY_DOMAINS and the mock LLM provider (offline and deterministic;
 * --live keeps the configured providers). The scenario (scripts/demo/scenario.json, embedded; or --scenario)
 * starts one offer workflow, waits for it, then starts one workflow per lead, and waits until no workflow
 * runs; then the clients of the delivered projects answer their surveys (a workflow per survey sent, with
 * responses from the scenario's pool), and it waits again. Then it prints what happened from the store: every workflow with its tasks (agent, outcome, time,
 * what it returned) and handoffs (accepted or rejected, and why), a summary, and the offer's versions from
 * the offer domain's memory (offer:<slug>:v<N>, written by the offer agents) — the refined offer closes the
 * loop.
 */
#include <lauxlib.h>
#include <lua.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "engine.h"
#include "llm/provider.h"
#include "json_scan.h"
#include "log.h"
#include "lua/request_workflows.h"

extern const char ag_embed_demo_scenario[];
extern const size_t ag_embed_demo_scenario_len;

typedef struct start_s {
    char *start, *input; /* JSON text of the input */
} start_t;

typedef struct scenario_s {
    start_t offer;
    start_t *leads;
    size_t nleads;
    /* clients answering surveys: every succeeded task of for_type (the survey sent) starts a workflow at
     * `start` on that task's input with `responses` set from the pool, in turn */
    char *for_type, *respond_start;
    char **pool; /* JSON arrays */
    size_t npool;
} scenario_t;

/* ---- the scenario ----------------------------------------------------------------------------------------------- */

static char *encode(lua_State *L, int idx)
{
    ag_llm_json_encode(L, idx);
    char *s = ag_xstrdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    return s;
}

/* Protected: reads the scenario text (arg 2) into the scenario_t (arg 1). */
static int l_scenario(lua_State *L)
{
    scenario_t *sc = lua_touserdata(L, 1);
    size_t len;
    const char *text = lua_tolstring(L, 2, &len);
    lua_settop(L, 4);
    ag_llm_json_decode(L, text, len); /* 5: the scenario */
    if (!lua_istable(L, 5) || lua_getfield(L, 5, "offer") != LUA_TTABLE)
        return luaL_error(L, "the scenario needs an \"offer\": {\"start\": ..., \"input\": {...}}");
    lua_getfield(L, -1, "start");
    lua_getfield(L, -2, "input");
    if (lua_type(L, -2) != LUA_TSTRING || !lua_istable(L, -1))
        return luaL_error(L, "offer: needs start (a string) and input (an object)");
    sc->offer.start = ag_xstrdup(lua_tostring(L, -2));
    sc->offer.input = encode(L, -1);
    lua_pop(L, 3);
    if (lua_getfield(L, 5, "leads") != LUA_TTABLE)
        return luaL_error(L, "the scenario needs \"leads\": {\"start\": ..., \"inputs\": [{...}, ...]}");
    lua_getfield(L, -1, "start");
    if (lua_type(L, -1) != LUA_TSTRING || lua_getfield(L, -2, "inputs") != LUA_TTABLE)
        return luaL_error(L, "leads: needs start (a string) and inputs (a list of objects)");
    size_t n = lua_rawlen(L, -1);
    sc->leads = ag_xcalloc(n ? n : 1, sizeof(*sc->leads));
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i);
        sc->leads[sc->nleads].start = ag_xstrdup(lua_tostring(L, -3));
        sc->leads[sc->nleads].input = encode(L, -1);
        sc->nleads++;
        lua_pop(L, 1);
    }
    if (lua_getfield(L, 5, "responses") == LUA_TTABLE) {
        lua_getfield(L, -1, "for_type");
        lua_getfield(L, -2, "start");
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING ||
            lua_getfield(L, -3, "pool") != LUA_TTABLE)
            return luaL_error(L, "responses: needs for_type, start (strings) and pool (a list of response lists)");
        sc->for_type = ag_xstrdup(lua_tostring(L, -3));
        sc->respond_start = ag_xstrdup(lua_tostring(L, -2));
        size_t np = lua_rawlen(L, -1);
        sc->pool = ag_xcalloc(np ? np : 1, sizeof(*sc->pool));
        for (size_t i = 1; i <= np; i++) {
            lua_rawgeti(L, -1, (lua_Integer)i);
            sc->pool[sc->npool++] = encode(L, -1);
            lua_pop(L, 1);
        }
    }
    return 0;
}

static void scenario_free(scenario_t *sc)
{
    free(sc->for_type);
    free(sc->respond_start);
    for (size_t i = 0; i < sc->npool; i++)
        free(sc->pool[i]);
    free(sc->pool);
    free(sc->offer.start);
    free(sc->offer.input);
    for (size_t i = 0; i < sc->nleads; i++) {
        free(sc->leads[i].start);
        free(sc->leads[i].input);
    }
    free(sc->leads);
}

/* ---- starting workflows ------------------------------------------------------------------------------------------ */

static int64_t start_workflow(ag_rt_t *rt, ag_store_t *st, const start_t *s, char *why, size_t whysz)
{
    ag_buf_t body;
    ag_buf_init(&body);
    ag_buf_puts(&body, "{\"start\":");
    ag_buf_json_strz(&body, s->start);
    ag_buf_puts(&body, ",\"input\":");
    ag_buf_puts(&body, s->input);
    ag_buf_putc(&body, '}');
    ag_create_req_t r;
    int64_t id = 0, task = 0;
    if (ag_rt_parse_workflow(rt, body.data, body.len, &r) != 0) {
        snprintf(why, whysz, "%s%s%s", r.err.message, r.err.details ? " " : "", r.err.details ? r.err.details : "");
    } else {
        ag_workflow_t w;
        ag_err_t err;
        if (st->ops->workflow_create(st, r.type, r.domain, r.agent, r.max_attempts, r.input, &w, &task, &err) == 0) {
            id = w.id;
            ag_workflow_clear(&w);
        } else {
            snprintf(why, whysz, "%s", err.msg);
        }
    }
    ag_create_req_clear(&r);
    ag_buf_free(&body);
    return id;
}

/* 1 while a workflow runs, 0 when none does, -1 on a store error. */
static long running(ag_store_t *st)
{
    ag_workflow_t *w = NULL;
    size_t n = 0;
    ag_err_t err;
    if (st->ops->workflow_list(st, "running", NULL, 0, 1, &w, &n, &err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        ag_workflow_clear(&w[i]);
    free(w);
    return (long)n;
}

static int wait_workflows(ag_store_t *st, double deadline_s)
{
    long left;
    while ((left = running(st)) > 0) {
        if ((double)ag_now_ms() / 1000.0 > deadline_s)
            return -1;
        usleep(20000);
    }
    return left < 0 ? -1 : 0;
}

/* Protected: input (arg 1) with its "responses" set to the pool entry (arg 2), as JSON. */
static int l_with_responses(lua_State *L)
{
    size_t n1, n2;
    const char *in = luaL_checklstring(L, 1, &n1), *resp = luaL_checklstring(L, 2, &n2);
    ag_llm_json_decode(L, in, n1);
    ag_llm_json_decode(L, resp, n2);
    lua_setfield(L, -2, "responses");
    ag_llm_json_encode(L, -1);
    return 1;
}

/* Starts one workflow per succeeded task of sc->for_type: the clients answer the surveys. */
static size_t start_responses(ag_rt_t *rt, ag_store_t *st, const scenario_t *sc)
{
    if (sc->for_type == NULL || sc->npool == 0)
        return 0;
    ag_task_filter_t f = {.state = AG_TASK_SUCCEEDED, .type = sc->for_type};
    ag_task_t *tasks = NULL;
    size_t n = 0, started = 0;
    int64_t next = 0;
    ag_err_t err;
    if (st->ops->task_list(st, &f, 0, AG_TASK_LIST_MAX, &tasks, &n, &next, &err) != 0) {
        fprintf(stderr, "agency demo: %s\n", err.msg);
        return 0;
    }
    lua_State *L = ag_rt_lua(rt);
    for (size_t k = n, i = 0; k-- > 0; i++) { /* oldest first */
        lua_pushcfunction(L, l_with_responses);
        lua_pushstring(L, tasks[k].input ? tasks[k].input : "{}");
        lua_pushstring(L, sc->pool[i % sc->npool]);
        if (lua_pcall(L, 2, 1, 0) == LUA_OK) {
            start_t s = {.start = sc->respond_start, .input = (char *)lua_tostring(L, -1)};
            char why[1024];
            if (start_workflow(rt, st, &s, why, sizeof(why)) != 0)
                started++;
            else
                fprintf(stderr, "agency demo: responses for task %lld not started: %s\n", (long long)tasks[k].id,
                        why);
        }
        lua_pop(L, 1);
    }
    for (size_t k = 0; k < n; k++)
        ag_task_clear(&tasks[k]);
    free(tasks);
    return started;
}

/* ---- the report ----------------------------------------------------------------------------------------------- */

/* Writes a short account of a result: its "summary" string when it has one, else the JSON, cut at max. */
static void put_result(FILE *out, const char *json, size_t max)
{
    if (json == NULL) {
        fputs("-", out);
        return;
    }
    size_t n = strlen(json), vs, vl;
    char summary[400];
    if (ag_json_member(json, n, "summary", &vs, &vl) && ag_json_string(json + vs, vl, summary, sizeof(summary)) == 0) {
        fprintf(out, "%.*s%s", (int)(strlen(summary) > max ? max : strlen(summary)), summary,
                strlen(summary) > max ? "..." : "");
        return;
    }
    fprintf(out, "%.*s%s", (int)(n > max ? max : n), json, n > max ? "..." : "");
}

/* Pretty-prints JSON text with two-space indents. */
static void put_pretty(FILE *out, const char *s, int base)
{
    int depth = 0, in_str = 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (in_str) {
            fputc(c, out);
            if (c == '\\' && p[1]) {
                fputc(*++p, out);
            } else if (c == '"') {
                in_str = 0;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_str = 1;
            fputc(c, out);
            break;
        case '{':
        case '[':
            fputc(c, out);
            if (p[1] == '}' || p[1] == ']') {
                fputc(*++p, out);
                break;
            }
            depth++;
            fprintf(out, "\n%*s", base + depth * 2, "");
            break;
        case '}':
        case ']':
            depth--;
            fprintf(out, "\n%*s%c", base + depth * 2, "", c);
            break;
        case ',':
            fprintf(out, ",\n%*s", base + depth * 2, "");
            break;
        case ':':
            fputs(": ", out);
            break;
        default:
            fputc(c, out);
        }
    }
}

typedef struct tally_s {
    size_t tasks, succeeded, dead, cancelled, handoffs, accepted, rejected, completed, failed;
} tally_t;

static void report_workflow(FILE *out, ag_store_t *st, const ag_workflow_t *w, tally_t *t)
{
    char wid[24];
    snprintf(wid, sizeof(wid), "%lld", (long long)w->id);
    fprintf(out, "\nworkflow %lld (%s, %s, %lld ms)\n", (long long)w->id, w->start_type, w->status,
            (long long)((w->finished_at ? w->finished_at : ag_now_ms()) - w->created_at));
    t->completed += strcmp(w->status, "completed") == 0;
    t->failed += strcmp(w->status, "failed") == 0;
    ag_task_filter_t f = {.state = -1, .workflow_id = wid};
    ag_task_t *tasks = NULL;
    size_t nt = 0;
    int64_t next = 0;
    ag_err_t err;
    ag_handoff_t *hs = NULL;
    size_t nh = 0;
    ag_handoff_filter_t hf = {.workflow_id = wid};
    if (st->ops->task_list(st, &f, 0, AG_TASK_LIST_MAX, &tasks, &nt, &next, &err) != 0 ||
        st->ops->handoff_list(st, &hf, 0, 1000, &hs, &nh, &err) != 0) {
        fprintf(out, "  (cannot read it: %s)\n", err.msg);
        return;
    }
    for (size_t k = nt; k-- > 0;) { /* oldest first */
        ag_task_t *x = &tasks[k];
        t->tasks++;
        t->succeeded += x->state == AG_TASK_SUCCEEDED;
        t->dead += x->state == AG_TASK_DEAD;
        t->cancelled += x->state == AG_TASK_CANCELLED;
        fprintf(out, "  task %-5lld %-30s %-20s %-9s %5lld ms  ", (long long)x->id, x->type, x->agent,
                ag_task_state_name(x->state),
                (long long)(x->finished_at && x->started_at ? x->finished_at - x->started_at : 0));
        if (x->state == AG_TASK_SUCCEEDED)
            put_result(out, x->result, 90);
        else
            fprintf(out, "%s", x->error ? x->error : "");
        fputc('\n', out);
        for (size_t i = 0; i < nh; i++) {
            if (hs[i].source_task_id != x->id)
                continue;
            t->handoffs++;
            int ok = strcmp(hs[i].status, "accepted") == 0;
            t->accepted += ok;
            t->rejected += !ok;
            if (ok)
                fprintf(out, "        handoff %s: %s -> %s, accepted: task %lld\n", hs[i].name, hs[i].from_domain,
                        hs[i].to_type, (long long)hs[i].target_task_id);
            else
                fprintf(out, "        handoff %s: %s -> %s, REJECTED: %s\n", hs[i].name, hs[i].from_domain,
                        hs[i].to_type, hs[i].reasons ? hs[i].reasons : "");
        }
        ag_task_clear(x);
    }
    free(tasks);
    ag_handoffs_free(hs, nh);
}

/* The offer's versions, from the offer domain's memory. */
static void report_offer(FILE *out, ag_store_t *st, const char *first_result)
{
    char slug[200] = "";
    size_t vs, vl;
    const char *r = first_result ? first_result : "";
    /* the slug is in the result, or in its "offer" / "spec" object */
    if (!(ag_json_member(r, strlen(r), "slug", &vs, &vl) && ag_json_string(r + vs, vl, slug, sizeof(slug)) == 0)) {
        static const char *holders[] = {"offer", "spec", NULL};
        for (const char **h = holders; *h && !slug[0]; h++) {
            size_t hs, hl, ss, sl;
            if (ag_json_member(r, strlen(r), *h, &hs, &hl) && ag_json_member(r + hs, hl, "slug", &ss, &sl))
                ag_json_string(r + hs + ss, sl, slug, sizeof(slug));
        }
    }
    fprintf(out, "\n== the offer's versions (memory of domain offer) ==\n");
    if (slug[0] == '\0') {
        fprintf(out, "  (the offer task's result has no slug: cannot find its versions)\n");
        return;
    }
    char key[300], *v = NULL;
    ag_err_t err;
    int latest = 0;
    snprintf(key, sizeof(key), "offer:%s:latest", slug);
    if (st->ops->kv_get(st, "offer", key, &v, &err) == 0) {
        latest = atoi(v);
        free(v);
    }
    if (latest <= 0) {
        fprintf(out, "  (no %s in memory)\n", key);
        return;
    }
    for (int i = 1; i <= latest; i++) {
        snprintf(key, sizeof(key), "offer:%s:v%d", slug, i);
        if (st->ops->kv_get(st, "offer", key, &v, &err) != 0) {
            fprintf(out, "  v%d: (missing)\n", i);
            continue;
        }
        if (i == 1 || i == latest) {
            fprintf(out, "  v%d%s:\n    ", i, i == latest && i > 1 ? " (the refined offer)" : "");
            put_pretty(out, v, 4);
            fputc('\n', out);
        } else {
            fprintf(out, "  v%d: ", i);
            put_result(out, v, 100);
            fputc('\n', out);
        }
        free(v);
    }
}

/* ---- the command ----------------------------------------------------------------------------------------------- */

static void *engine_main(void *arg)
{
    ag_engine_t *eng = arg;
    ag_err_t err;
    if (ag_engine_run(eng, &err) != 0)
        fprintf(stderr, "agency demo: the engine stopped: %s\n", err.msg);
    return NULL;
}

int ag_cmd_demo(const ag_config_t *base, int argc, char **argv)
{
    const char *scenario_path = NULL;
    int live = 0, keep = 0;
    double timeout = 60;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--scenario") == 0 && i + 1 < argc)
            scenario_path = argv[++i];
        else if (strcmp(argv[i], "--live") == 0)
            live = 1;
        else if (strcmp(argv[i], "--keep") == 0)
            keep = 1;
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc && atof(argv[i + 1]) > 0)
            timeout = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: agency demo [--scenario FILE] [--live] [--timeout SECONDS] [--keep]\n");
            return 2;
        }
    }
    double t0 = (double)ag_now_ms() / 1000.0;
    char dir[] = "/tmp/agency-demo-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("agency demo: mkdtemp");
        return 1;
    }
    ag_config_t cfg = *base;
    snprintf(cfg.database_url, sizeof(cfg.database_url), "sqlite:%s/agency.db", dir);
    snprintf(cfg.listen_host, sizeof(cfg.listen_host), "127.0.0.1");
    cfg.listen_port = 0;
    cfg.threads = 2;
    if (!live) {
        snprintf(cfg.llm.provider, sizeof(cfg.llm.provider), "mock");
        cfg.llm.model[0] = cfg.llm.fallback[0] = '\0';
        cfg.llm.offline = 1; /* even where a domain's config.lua or a script names a provider */
    }
    if (ag_log_level < AG_LOG_WARN)
        ag_log_level = AG_LOG_WARN; /* the report is the output */

    char *text = NULL;
    size_t tlen = 0;
    if (scenario_path && ag_read_file(scenario_path, &text, &tlen) != 0) {
        fprintf(stderr, "agency demo: cannot read %s\n", scenario_path);
        return 2;
    }
    int status = 1;
    scenario_t sc = {0};
    ag_engine_t *eng = ag_xcalloc(1, sizeof(*eng));
    ag_rt_t *rt = NULL;
    ag_store_t *st = NULL;
    pthread_t th;
    int started = 0;
    ag_err_t err;
    if (ag_engine_init(eng, &cfg, &err) != 0 || ag_store_open(&st, cfg.database_url, &err) != 0 ||
        ag_rt_new(&rt, &(ag_rt_opts_t){.scripts = eng->scripts}, &err) != 0) {
        fprintf(stderr, "agency demo: %s\n", err.msg);
        goto done;
    }
    lua_State *L = ag_rt_lua(rt);
    lua_pushcfunction(L, l_scenario);
    lua_pushlightuserdata(L, &sc);
    if (text)
        lua_pushlstring(L, text, tlen);
    else
        lua_pushlstring(L, ag_embed_demo_scenario, ag_embed_demo_scenario_len);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        fprintf(stderr, "agency demo: the scenario: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
        goto done;
    }
    pthread_create(&th, NULL, engine_main, eng);
    started = 1;
    while (!atomic_load(&eng->ready))
        usleep(2000);

    printf("Agency Engine demo: the agency loop end to end, %s, on a temporary database\n",
           live ? "with the configured LLM providers" : "offline (mock LLM)");
    printf("domains: %s   database: %s/agency.db\n", cfg.domains, dir);
    char why[1024];
    int64_t offer_wf = start_workflow(rt, st, &sc.offer, why, sizeof(why));
    if (offer_wf == 0) {
        fprintf(stderr, "agency demo: cannot start the offer workflow (%s): %s\n", sc.offer.start, why);
        goto done;
    }
    ag_engine_notify_queued(eng);
    double deadline = t0 + timeout;
    if (wait_workflows(st, deadline) != 0) {
        fprintf(stderr, "agency demo: the offer workflow did not finish within %.0f s\n", timeout);
        goto done;
    }
    size_t started_leads = 0;
    for (size_t i = 0; i < sc.nleads; i++) {
        if (start_workflow(rt, st, &sc.leads[i], why, sizeof(why)) == 0)
            fprintf(stderr, "agency demo: lead %zu not started (%s): %s\n", i + 1, sc.leads[i].start, why);
        else
            started_leads++;
    }
    ag_engine_notify_queued(eng);
    if (wait_workflows(st, deadline) != 0) {
        fprintf(stderr, "agency demo: workflows still running after %.0f s\n", timeout);
        goto done;
    }
    size_t answered = start_responses(rt, st, &sc);
    ag_engine_notify_queued(eng);
    if (wait_workflows(st, deadline) != 0) {
        fprintf(stderr, "agency demo: workflows still running after %.0f s\n", timeout);
        goto done;
    }
    double t1 = (double)ag_now_ms() / 1000.0;

    /* the report, oldest workflow first */
    ag_workflow_t *ws = NULL;
    size_t nw = 0;
    if (st->ops->workflow_list(st, NULL, NULL, 0, 1000, &ws, &nw, &err) != 0) {
        fprintf(stderr, "agency demo: %s\n", err.msg);
        goto done;
    }
    tally_t t = {0};
    printf("\n== what each agent did (%zu workflows: the offer, %zu leads, %zu clients answering their survey) ==\n",
           nw, started_leads, answered);
    for (size_t i = nw; i-- > 0;)
        report_workflow(stdout, st, &ws[i], &t);
    char *first = NULL;
    ag_task_filter_t f = {.state = -1, .workflow_id = NULL};
    char wid[24];
    snprintf(wid, sizeof(wid), "%lld", (long long)offer_wf);
    f.workflow_id = wid;
    ag_task_t *ot = NULL;
    size_t no = 0;
    int64_t next = 0;
    if (st->ops->task_list(st, &f, 0, AG_TASK_LIST_MAX, &ot, &no, &next, &err) == 0 && no > 0)
        first = ag_xstrdup(ot[no - 1].result ? ot[no - 1].result : "");
    for (size_t i = 0; i < no; i++)
        ag_task_clear(&ot[i]);
    free(ot);
    report_offer(stdout, st, first);
    free(first);
    for (size_t i = 0; i < nw; i++)
        ag_workflow_clear(&ws[i]);
    free(ws);
    printf("\n== summary ==\n  workflows: %zu completed, %zu failed\n  tasks: %zu (%zu succeeded, %zu dead, %zu "
           "cancelled)\n  handoffs: %zu (%zu accepted, %zu rejected)\n  time: %.2f s (run), %.2f s (total)\n",
           t.completed, t.failed, t.tasks, t.succeeded, t.dead, t.cancelled, t.handoffs, t.accepted, t.rejected,
           t1 - t0, (double)ag_now_ms() / 1000.0 - t0);
    status = t.failed == 0 && t.dead == 0 ? 0 : 1;
done:
    if (started) {
        atomic_store(&eng->stopping, 1);
        ag_engine_notify_queued(eng);
        pthread_join(th, NULL);
    }
    ag_rt_free(rt);
    ag_store_close(st);
    if (eng->workers != NULL || eng->scripts != NULL)
        ag_engine_destroy(eng);
    free(eng);
    scenario_free(&sc);
    free(text);
    if (!keep) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "agency demo: could not remove %s\n", dir);
    } else {
        printf("kept: %s\n", dir);
    }
    return status;
}
