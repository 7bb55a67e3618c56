/*
 * test_template.c: prompt templates (api_template.c, `template.render` and ctx.template) on a real runtime
 * and loop, with a script registry over a temporary domains tree: placeholders and how values render,
 * literal text that only looks like a placeholder, the missing-value and unknown-template errors (with
 * the template's path and line), templates in the registry (never compiled, *_test excluded, hot reload),
 * domain scoping, the CPU budget, and where the global may not be used.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "../../engine/lua/runtime.h"
#include "../../engine/lua/scripts.h"
#include "../../engine/store.h"

#define CPU_BUDGET 5000000
#define MEM_LIMIT (16 << 20)

typedef struct fixture_s {
    char root[64];
    ag_scripts_t *scripts;
    uv_loop_t loop;
    ag_store_t *store;
    ag_rt_t *rt;
} fixture_t;

typedef struct res_s {
    int called;
    ag_run_status_t status;
    char *result, *error;
} res_t;

static void res_clear(res_t *r)
{
    free(r->result);
    free(r->error);
    memset(r, 0, sizeof(*r));
}

/* ---- files and fixture ------------------------------------------------------------------------------------ */

static void write_at(fixture_t *fx, const char *rel, const char *text)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", fx->root, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void mkdir_at(fixture_t *fx, const char *rel)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", fx->root, rel);
    mkdir(p, 0755);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void rescan(fixture_t *fx)
{
    int changed = -1;
    ag_err_t err;
    assert_int_equal(ag_scripts_rescan(fx->scripts, &changed, &err), 0);
}

/* The registry entry domain/kind/name (good or bad), or NULL; snap stays acquired by the caller. */
static const ag_script_t *entry(const ag_snapshot_t *snap, const char *domain, const char *kind, const char *name)
{
    for (size_t i = 0; i < snap->n; i++) {
        const ag_script_t *sc = &snap->items[i];
        if (strcmp(sc->domain, domain) == 0 && strcmp(sc->kind, kind) == 0 && strcmp(sc->name, name) == 0)
            return sc;
    }
    return NULL;
}

/* Writes t/agents/<name>.lua with run(task, ctx) = body (body starts on line 3) and its task type. */
static void add_agent(fixture_t *fx, const char *domain, const char *name, const char *body, const char *task_extra)
{
    char rel[128], src[8192];
    snprintf(src, sizeof(src), "local M = {}\nfunction M.run(task, ctx)\n%s\nend\nreturn M\n", body);
    snprintf(rel, sizeof(rel), "%s/agents/%s.lua", domain, name);
    write_at(fx, rel, src);
    snprintf(rel, sizeof(rel), "%s/tasks/%s.lua", domain, name);
    snprintf(src, sizeof(src), "return { agent = \"%s\"%s }\n", name, task_extra ? task_extra : "");
    write_at(fx, rel, src);
    rescan(fx);
    ag_snapshot_t *snap = ag_scripts_acquire(fx->scripts);
    const ag_script_t *sc = entry(snap, domain, "agents", name);
    assert_non_null(sc);
    if (sc->error)
        fail_msg("agent %s did not load: %s", name, sc->error);
    ag_snapshot_release(snap);
}

static void add_template(fixture_t *fx, const char *domain, const char *file, const char *text)
{
    char rel[160];
    snprintf(rel, sizeof(rel), "%s/templates/%s", domain, file);
    write_at(fx, rel, text);
    rescan(fx);
}

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    snprintf(fx->root, sizeof(fx->root), "/tmp/ag_tpl_XXXXXX");
    if (mkdtemp(fx->root) == NULL)
        return -1;
    const char *dirs[] = {"t", "t/agents", "t/tasks", "t/templates", "u", "u/agents", "u/tasks", "u/templates"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        mkdir_at(fx, dirs[i]);
    ag_err_t err;
    if (ag_scripts_new(&fx->scripts, fx->root, &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    if (uv_loop_init(&fx->loop) != 0)
        return -1;
    if (ag_store_sqlite_open(&fx->store, ":memory:", &err) != 0 || fx->store->ops->migrate(fx->store, NULL, &err))
        return -1;
    ag_rt_opts_t o = {.loop = &fx->loop, .store = fx->store, .scripts = fx->scripts, .cpu_budget = CPU_BUDGET,
                      .memory_limit = MEM_LIMIT};
    if (ag_rt_new(&fx->rt, &o, &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(ag_rt_waiting(fx->rt), 0);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    ag_rt_free(fx->rt);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&fx->loop);
    ag_store_close(fx->store);
    ag_scripts_free(fx->scripts);
    nftw(fx->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    assert_int_equal(rc, 0);
    return 0;
}

/* ---- runs ------------------------------------------------------------------------------------------------- */

static void on_end(ag_run_t *run, ag_run_end_t *end, void *data)
{
    (void)run;
    res_t *r = data;
    r->called++;
    r->status = end->status;
    r->result = end->result;
    r->error = end->error;
    end->result = end->error = NULL;
}

/* Runs task type `type` with JSON input to its end (templates never wait, so it ends inside the start). */
static void run_task(fixture_t *fx, const char *type, const char *input, res_t *r)
{
    memset(r, 0, sizeof(*r));
    ag_run_spec_t spec = {.task_id = 1, .type = type, .input = input ? input : "{}", .attempt = 1};
    ag_run_t *run = NULL;
    ag_rt_start(fx->rt, &spec, on_end, r, &run);
    while (r->called == 0 && uv_run(&fx->loop, UV_RUN_ONCE))
        ;
    assert_int_equal(r->called, 1);
}

static void expect_ok(fixture_t *fx, const char *type, const char *input, const char *json)
{
    res_t r;
    run_task(fx, type, input, &r);
    if (r.status != AG_RUN_OK)
        fail_msg("%s failed: %s", type, r.error ? r.error : "(no error)");
    if (strcmp(r.result, json) != 0)
        fail_msg("%s returned\n  %s\nexpected\n  %s", type, r.result, json);
    res_clear(&r);
}

static void expect_error(fixture_t *fx, const char *type, const char *input, const char *needle)
{
    res_t r;
    run_task(fx, type, input, &r);
    if (r.status != AG_RUN_ERROR)
        fail_msg("%s: expected an error containing '%s', got %s", type, needle, r.result ? r.result : "?");
    if (strstr(r.error, needle) == NULL)
        fail_msg("%s: error '%s' does not contain '%s'", type, r.error, needle);
    res_clear(&r);
}

/* ---- rendering -------------------------------------------------------------------------------------------- */

static void test_render_values(void **state)
{
    fixture_t *fx = *state;
    add_template(fx, "t", "lead.txt",
                 "Hi {{name}}, {{ lead.company.name }}!\n"
                 "score={{lead.score}} ratio={{ratio}} big={{big}} n={{n}} neg={{neg}}\n"
                 "ok={{ok}} no={{no}} tags={{tags}} obj={{obj}} null={{nothing}} second={{tags.2}}\n"
                 "{{\tname\n}}|{{name}}{{name}}|");
    add_agent(fx, "t", "render",
              "  return template.render('lead', { name = 'Ann', ratio = 0.25, big = 1e20, n = 3.0, neg = -2,\n"
              "    lead = { score = 87, company = { name = 'Acme & Co' } }, ok = true, no = false,\n"
              "    tags = { 'a', 'b' }, obj = { k = 1 }, nothing = json.null })",
              NULL);
    expect_ok(fx, "t.render", NULL,
              "\"Hi Ann, Acme & Co!\\nscore=87 ratio=0.25 big=1e+20 n=3 neg=-2\\n"
              "ok=true no=false tags=[\\\"a\\\",\\\"b\\\"] obj={\\\"k\\\":1} null=null second=b\\n"
              "Ann|AnnAnn|\"");
}

static void test_render_from_task_input_numbers(void **state)
{
    fixture_t *fx = *state;
    /* decoded JSON numbers are floats: integral ones still render without ".0" */
    add_template(fx, "t", "budget.txt", "Budget: {{budget}} over {{months}} months");
    add_agent(fx, "t", "budget", "  return ctx.template('budget', task.input)", NULL);
    expect_ok(fx, "t.budget", "{\"budget\": 25000, \"months\": 2.5}", "\"Budget: 25000 over 2.5 months\"");
}

static void test_text_that_only_looks_like_a_placeholder_stays(void **state)
{
    fixture_t *fx = *state;
    add_template(fx, "t", "lit.txt",
                 "{{{{x}}}} {{ not a var }} {{}} {x} }} {{.x}} {{x.}} {{x..y}} {{1x}} {\"json\": {\"a\": 1}} "
                 "{{unterminated");
    add_agent(fx, "t", "lit", "  return template.render('lit', { x = 'X' })", NULL);
    expect_ok(fx, "t.lit", NULL,
              "\"{{X}} {{ not a var }} {{}} {x} }} {{.x}} {{x.}} {{x..y}} {{1x}} {\\\"json\\\": {\\\"a\\\": 1}} "
              "{{unterminated\"");
}

static void test_empty_template_and_no_vars(void **state)
{
    fixture_t *fx = *state;
    add_template(fx, "t", "empty.txt", "");
    add_template(fx, "t", "plain.txt", "no placeholders at all");
    add_agent(fx, "t", "plain", "  return template.render('empty') .. '|' .. template.render('plain', nil)", NULL);
    expect_ok(fx, "t.plain", NULL, "\"|no placeholders at all\"");
}

static void test_ctx_template_is_template_render(void **state)
{
    fixture_t *fx = *state;
    add_template(fx, "t", "hi.txt", "hi {{who}}");
    add_agent(fx, "t", "ctxt",
              "  return { rawequal(ctx.template, template.render), ctx.template('hi', { who = 'x' }) }", NULL);
    expect_ok(fx, "t.ctxt", NULL, "[true,\"hi x\"]");
}

static void test_md_template_and_txt_wins(void **state)
{
    fixture_t *fx = *state;
    add_template(fx, "t", "doc.md", "# {{title}}");
    add_agent(fx, "t", "md", "  return template.render('doc', { title = 'T' })", NULL);
    expect_ok(fx, "t.md", NULL, "\"# T\"");
    add_template(fx, "t", "doc.txt", "txt {{title}}");
    expect_ok(fx, "t.md", NULL, "\"txt T\"");
}

/* ---- errors ----------------------------------------------------------------------------------------------- */

static void test_missing_value_names_template_path_and_line(void **state)
{
    fixture_t *fx = *state;
    add_template(fx, "t", "miss.txt", "line one {{a}}\nline two\nthree {{ lead.company.name }} end\n");
    add_agent(fx, "t", "miss", "  return template.render('miss', { a = 1, lead = { company = 'not a table' } })",
              NULL);
    char needle[256];
    snprintf(needle, sizeof(needle), "%s/t/templates/miss.txt:3: missing value for {{lead.company.name}}", fx->root);
    expect_error(fx, "t.miss", NULL, needle);
    expect_error(fx, "t.miss", NULL, "(rendered from ");
    /* absent vars entirely */
    add_agent(fx, "t", "miss2", "  return template.render('miss')", NULL);
    snprintf(needle, sizeof(needle), "%s/t/templates/miss.txt:1: missing value for {{a}}", fx->root);
    expect_error(fx, "t.miss2", NULL, needle);
}

static void test_missing_value_is_catchable(void **state)
{
    fixture_t *fx = *state;
    add_template(fx, "t", "m.txt", "{{x}}");
    add_agent(fx, "t", "mcatch",
              "  local ok, e = pcall(template.render, 'm', {})\n"
              "  return { ok, e:find('missing value for {{x}}', 1, true) ~= nil }",
              NULL);
    expect_ok(fx, "t.mcatch", NULL, "[false,true]");
}

static void test_unknown_template_names_the_expected_path(void **state)
{
    fixture_t *fx = *state;
    add_agent(fx, "t", "unknown", "  return template.render('nope', {})", NULL);
    char needle[256];
    snprintf(needle, sizeof(needle), "agents/unknown.lua:3: template.render: no template 'nope' in domain 't' "
                                     "(expected %s/t/templates/nope.txt)",
             fx->root);
    expect_error(fx, "t.unknown", NULL, needle);
}

static void test_misuse(void **state)
{
    fixture_t *fx = *state;
    add_template(fx, "t", "f.txt", "{{fn}}");
    add_agent(fx, "t", "fnval", "  return template.render('f', { fn = print })", NULL);
    expect_error(fx, "t.fnval", NULL, "{{fn}} is a function, which has no text");
    add_agent(fx, "t", "badname", "  return template.render('../../etc/passwd', {})", NULL);
    expect_error(fx, "t.badname", NULL, "bad argument #1");
    add_agent(fx, "t", "badvars", "  return template.render('f', 'x')", NULL);
    expect_error(fx, "t.badvars", NULL, "bad argument #2");
    add_agent(fx, "t", "colon", "  return ctx:template('f')", NULL);
    expect_error(fx, "t.colon", NULL, "with a dot, not ctx:template");
}

static void test_not_callable_at_load_time_and_read_only(void **state)
{
    fixture_t *fx = *state;
    add_template(fx, "t", "x.txt", "x");
    write_at(fx, "t/agents/atload.lua", "local s = template.render('x')\nreturn { run = function() return s end }\n");
    rescan(fx);
    ag_snapshot_t *snap = ag_scripts_acquire(fx->scripts);
    const ag_script_t *sc = entry(snap, "t", "agents", "atload");
    assert_non_null(sc);
    assert_non_null(sc->error);
    assert_non_null(strstr(sc->error, "only callable while a task runs"));
    ag_snapshot_release(snap);
    add_agent(fx, "t", "ro",
              "  local n = 0\n"
              "  if pcall(function() template.render = function() return 'pwned' end end) then n = n + 1 end\n"
              "  if pcall(function() template.other = 1 end) then n = n + 1 end\n"
              "  return n",
              NULL);
    expect_ok(fx, "t.ro", NULL, "0");
}

/* ---- registry, reload, domains, budget -------------------------------------------------------------------- */

static void test_templates_are_registry_entries_never_compiled(void **state)
{
    fixture_t *fx = *state;
    add_template(fx, "t", "luaish.txt", "return {{ this is not Lua }} end end (");
    add_template(fx, "t", "luaish_test.txt", "excluded like any *_test file");
    add_template(fx, "t", "notes.lua", "a .lua file in templates/ is not a template");
    ag_snapshot_t *snap = ag_scripts_acquire(fx->scripts);
    const ag_script_t *sc = entry(snap, "t", "templates", "luaish");
    assert_non_null(sc);
    assert_null(sc->error); /* always good */
    assert_non_null(sc->source);
    assert_int_equal(strlen(sc->hash), 16);
    assert_null(entry(snap, "t", "templates", "luaish_test"));
    assert_null(entry(snap, "t", "templates", "notes"));
    size_t good, bad;
    ag_snapshot_counts(snap, &good, &bad);
    assert_int_equal(bad, 0);
    ag_snapshot_release(snap);
    /* `agency check` on the file */
    char path[256];
    snprintf(path, sizeof(path), "%s/t/templates/luaish.txt", fx->root);
    FILE *out = tmpfile();
    ag_err_t err;
    assert_int_equal(ag_scripts_check(path, out, &err), 0);
    fclose(out);
}

static void test_hot_reload_picks_up_edits(void **state)
{
    fixture_t *fx = *state;
    add_template(fx, "t", "v.txt", "version one {{x}}");
    add_agent(fx, "t", "reload", "  return template.render('v', { x = 1 })", NULL);
    expect_ok(fx, "t.reload", NULL, "\"version one 1\"");
    ag_snapshot_t *snap = ag_scripts_acquire(fx->scripts);
    char old_hash[17];
    memcpy(old_hash, entry(snap, "t", "templates", "v")->hash, sizeof(old_hash));
    ag_snapshot_release(snap);
    add_template(fx, "t", "v.txt", "version two {{x}}");
    snap = ag_scripts_acquire(fx->scripts);
    assert_string_not_equal(entry(snap, "t", "templates", "v")->hash, old_hash);
    ag_snapshot_release(snap);
    expect_ok(fx, "t.reload", NULL, "\"version two 1\"");
}

static void test_templates_are_scoped_to_the_run_domain(void **state)
{
    fixture_t *fx = *state;
    add_template(fx, "u", "only_u.txt", "u's {{x}}");
    add_template(fx, "t", "same.txt", "t's {{x}}");
    add_template(fx, "u", "same.txt", "u's {{x}}");
    add_agent(fx, "t", "scoped", "  return template.render('same', { x = 1 })", NULL);
    expect_ok(fx, "t.scoped", NULL, "\"t's 1\"");
    add_agent(fx, "u", "scoped", "  return template.render('same', { x = 1 })", NULL);
    expect_ok(fx, "u.scoped", NULL, "\"u's 1\"");
    add_agent(fx, "t", "other", "  return template.render('only_u', { x = 1 })", NULL);
    expect_error(fx, "t.other", NULL, "no template 'only_u' in domain 't'");
}

static void test_rendering_is_charged_to_the_cpu_budget(void **state)
{
    fixture_t *fx = *state;
    size_t n = 300000;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    add_template(fx, "t", "big.txt", big);
    free(big);
    /* One render of a 300 kB template fits a 1M budget; ten do not, even inside a pcall. */
    add_agent(fx, "t", "once", "  return #template.render('big')", ", cpu_budget = 1000000");
    expect_ok(fx, "t.once", NULL, "300000");
    add_agent(fx, "t", "many",
              "  for i = 1, 10 do pcall(template.render, 'big') end\n"
              "  return 'survived'",
              ", cpu_budget = 1000000");
    expect_error(fx, "t.many", NULL, "cpu budget exceeded");
    /* and what placeholders insert counts too */
    add_template(fx, "t", "rep.txt", "{{s}}{{s}}{{s}}{{s}}{{s}}{{s}}{{s}}{{s}}{{s}}{{s}}");
    add_agent(fx, "t", "inserted", "  return #template.render('rep', { s = string.rep('y', 200000) })",
              ", cpu_budget = 1000000");
    expect_error(fx, "t.inserted", NULL, "cpu budget exceeded");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_render_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_from_task_input_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_that_only_looks_like_a_placeholder_stays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_template_and_no_vars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctx_template_is_template_render, setup, teardown),
        cmocka_unit_test_setup_teardown(test_md_template_and_txt_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_value_names_template_path_and_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_value_is_catchable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_template_names_the_expected_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_callable_at_load_time_and_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_templates_are_registry_entries_never_compiled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hot_reload_picks_up_edits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_templates_are_scoped_to_the_run_domain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rendering_is_charged_to_the_cpu_budget, setup, teardown),
    };
    return cmocka_run_group_tests_name("template", tests, NULL, NULL);
}
