/*
 * test_queue.c: retry backoff, and the queue state machine end to end: through the store alone, and
 * through a real worker (queue.c's pump, heartbeat and recovery timers on a libuv loop, a Lua runtime
 * and a SQLite file) without HTTP.
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
#include <time.h>
#include <unistd.h>

#include "../../engine/engine.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- backoff ------------------------------------------------------------------------------------------------ */

static void test_backoff_grows_exponentially(void **state)
{
    (void)state;
    assert_int_equal(ag_queue_backoff_ms(1, 100, 1000000, 0.5), 100);
    assert_int_equal(ag_queue_backoff_ms(2, 100, 1000000, 0.5), 200);
    assert_int_equal(ag_queue_backoff_ms(3, 100, 1000000, 0.5), 400);
    assert_int_equal(ag_queue_backoff_ms(4, 100, 1000000, 0.5), 800);
    assert_int_equal(ag_queue_backoff_ms(11, 100, 1000000, 0.5), 102400);
    int64_t prev = 0;
    for (int a = 1; a <= 12; a++) {
        int64_t d = ag_queue_backoff_ms(a, 50, 10000000, 0.5);
        assert_true(d > prev);
        prev = d;
    }
    /* attempt 0 or negative behaves as the first */
    assert_int_equal(ag_queue_backoff_ms(0, 100, 1000000, 0.5), 100);
    assert_int_equal(ag_queue_backoff_ms(-3, 100, 1000000, 0.5), 100);
}

static void test_backoff_capped_at_max(void **state)
{
    (void)state;
    assert_int_equal(ag_queue_backoff_ms(5, 1000, 5000, 0.5), 5000);
    assert_int_equal(ag_queue_backoff_ms(30, 1000, 5000, 0.5), 5000);
    assert_int_equal(ag_queue_backoff_ms(1000, 1000, 5000, 0.5), 5000); /* 2^999 does not overflow */
    assert_int_equal(ag_queue_backoff_ms(100000, 1000, 5000, 0.5), 5000);
    assert_int_equal(ag_queue_backoff_ms(1 << 30, 1000, 5000, 0.5), 5000);
    /* once capped, jitter still spreads a burst: never below max -20% */
    for (int a = 5; a < 64; a++)
        assert_int_equal(ag_queue_backoff_ms(a, 1000, 5000, 0.0), 4000);
}

/* docs/scripting.md: retry "starting around base_ms, never more than max_ms". */
static void test_backoff_never_exceeds_max_ms(void **state)
{
    (void)state;
    for (int a = 1; a < 40; a++)
        for (int i = 0; i <= 10; i++) {
            int64_t d = ag_queue_backoff_ms(a, 1000, 5000, i / 10.0);
            if (d > 5000)
                fail_msg("attempt %d unit_random %.1f: backoff %lld ms exceeds max_ms 5000", a, i / 10.0,
                         (long long)d);
        }
}

static void test_backoff_jitter_within_20_percent(void **state)
{
    (void)state;
    /* nominal 400 at attempt 3 */
    assert_int_equal(ag_queue_backoff_ms(3, 100, 1000000, 0.0), 320);
    assert_int_equal(ag_queue_backoff_ms(3, 100, 1000000, 0.5), 400);
    assert_int_equal(ag_queue_backoff_ms(3, 100, 1000000, 1.0), 480);
    for (int i = 0; i <= 100; i++) {
        double r = i / 100.0;
        int64_t d = ag_queue_backoff_ms(4, 1000, 1000000, r);
        assert_true(d >= 6400 && d <= 9600);
        if (i > 0)
            assert_true(d >= ag_queue_backoff_ms(4, 1000, 1000000, (i - 1) / 100.0)); /* monotonic in r */
    }
}

static void test_backoff_defaults(void **state)
{
    (void)state;
    /* base 0 -> 1000 ms, max 0 -> 300000 ms */
    assert_int_equal(ag_queue_backoff_ms(1, 0, 0, 0.5), 1000);
    assert_int_equal(ag_queue_backoff_ms(2, 0, 0, 0.5), 2000);
    assert_int_equal(ag_queue_backoff_ms(50, 0, 0, 0.5), 300000);
    assert_int_equal(ag_queue_backoff_ms(1, -5, -5, 0.5), 1000);
    assert_int_equal(ag_queue_backoff_ms(3, 0, 100000, 0.5), 4000);
    assert_int_equal(ag_queue_backoff_ms(20, 10, 0, 0.5), 300000);
}

/* ---- the state machine through the store ------------------------------------------------------------------ */

static void test_retry_then_dead_through_store(void **state)
{
    (void)state;
    ag_store_t *st;
    ag_err_t err;
    assert_int_equal(ag_store_sqlite_open(&st, ":memory:", &err), 0);
    int applied;
    assert_int_equal(st->ops->migrate(st, &applied, &err), 0);
    ag_task_new_t n = {.type = "t.flaky", .domain = "t", .agent = "flaky", .input = "{}", .max_attempts = 2,
                       .queued = 1};
    ag_task_t t = {0};
    int existed;
    assert_int_equal(st->ops->task_create(st, &n, &t, &existed, &err), 0);
    int64_t id = t.id;
    ag_task_clear(&t);

    ag_claim_t *c;
    size_t nc;
    assert_int_equal(st->ops->sync(st, NULL, 0, "w", 10, 60000, &c, &nc, &err), 0);
    assert_int_equal(nc, 1);
    assert_int_equal(c[0].attempts, 1);
    ag_claims_free(c, nc);
    /* attempt 1 fails with a retry due in 150 ms */
    int64_t due = ag_now_ms() + ag_queue_backoff_ms(1, 150, 1000, 0.5);
    ag_outcome_t o = {.id = id, .state = AG_TASK_FAILED, .error = "boom 1", .run_at = due};
    assert_int_equal(st->ops->sync(st, &o, 1, "w", 10, 60000, &c, &nc, &err), 0);
    assert_int_equal(nc, 0); /* not claimable before run_at */
    ag_claims_free(c, nc);
    assert_int_equal(st->ops->task_get(st, id, &t, &err), 0);
    assert_int_equal(t.state, AG_TASK_FAILED);
    assert_true(t.run_at > ag_now_ms());
    assert_int_equal(t.run_at, due);
    assert_string_equal(t.error, "boom 1");
    assert_int_equal(t.finished_at, 0);
    ag_task_clear(&t);
    int64_t next = 0;
    assert_int_equal(st->ops->next_due(st, &next, &err), 0);
    assert_int_equal(next, due);
    assert_int_equal(st->ops->sync(st, NULL, 0, "w", 10, 60000, &c, &nc, &err), 0);
    assert_int_equal(nc, 0);
    ag_claims_free(c, nc);
    /* once due, attempt 2 */
    while (ag_now_ms() <= due)
        sleep_ms(10);
    assert_int_equal(st->ops->sync(st, NULL, 0, "w", 10, 60000, &c, &nc, &err), 0);
    assert_int_equal(nc, 1);
    assert_int_equal(c[0].attempts, 2);
    ag_claims_free(c, nc);
    /* attempt 2 == max_attempts: dead, with the last error */
    o = (ag_outcome_t){.id = id, .state = AG_TASK_DEAD, .error = "boom 2"};
    assert_int_equal(st->ops->sync(st, &o, 1, "w", 10, 60000, &c, &nc, &err), 0);
    assert_int_equal(nc, 0);
    ag_claims_free(c, nc);
    assert_int_equal(st->ops->task_get(st, id, &t, &err), 0);
    assert_int_equal(t.state, AG_TASK_DEAD);
    assert_int_equal(t.attempts, 2);
    assert_string_equal(t.error, "boom 2");
    assert_true(t.finished_at > 0);
    ag_task_clear(&t);
    assert_int_equal(st->ops->next_due(st, &next, &err), 0);
    assert_int_equal(next, 0);
    ag_store_close(st);
}

/* ---- the state machine through a real worker ---------------------------------------------------------------- */

typedef struct wfx_s {
    char root[64], db[128];
    ag_engine_t eng;
    ag_worker_t *w;
    uv_timer_t poll;
    int64_t id;
    int64_t deadline;
    int seen_failed, claimed_early, done;
    int64_t failed_run_at, failed_updated_at;
} wfx_t;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void worker_open(wfx_t *fx, const char *agent_src, const char *task_src)
{
    snprintf(fx->root, sizeof(fx->root), "/tmp/ag_queue_XXXXXX");
    assert_non_null(mkdtemp(fx->root));
    char p[256];
    snprintf(p, sizeof(p), "%s/domains", fx->root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/domains/t", fx->root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/domains/t/agents", fx->root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/domains/t/tasks", fx->root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/domains/t/agents/flaky.lua", fx->root);
    write_file(p, agent_src);
    snprintf(p, sizeof(p), "%s/domains/t/tasks/flaky.lua", fx->root);
    write_file(p, task_src);
    snprintf(fx->db, sizeof(fx->db), "%s/q.db", fx->root);

    ag_engine_t *eng = &fx->eng;
    memset(eng, 0, sizeof(*eng));
    snprintf(eng->cfg.database_url, sizeof(eng->cfg.database_url), "sqlite:%s", fx->db);
    snprintf(eng->cfg.domains, sizeof(eng->cfg.domains), "%s/domains", fx->root);
    eng->cfg.lease_ms = 30000;
    eng->cfg.claim_batch = 8;
    eng->cfg.concurrency = 8;
    eng->cfg.cpu_budget = 10000000;
    eng->cfg.memory_limit = 16 << 20;
    pthread_mutex_init(&eng->waiters_mu, NULL);
    eng->buckets = ag_xcalloc(1024, sizeof(*eng->buckets));
    ag_err_t err;
    assert_int_equal(ag_scripts_new(&eng->scripts, eng->cfg.domains, &err), 0);
    ag_snapshot_t *snap = ag_scripts_acquire(eng->scripts);
    size_t good, bad;
    ag_snapshot_counts(snap, &good, &bad);
    ag_snapshot_release(snap);
    assert_int_equal(good, 2);
    assert_int_equal(bad, 0);
    eng->nworkers = 1;
    eng->workers = ag_xcalloc(1, sizeof(ag_worker_t));
    ag_worker_t *w = fx->w = &eng->workers[0];
    w->eng = eng;
    w->index = 0;
    assert_int_equal(uv_loop_init(&w->loop), 0);
    assert_int_equal(ag_store_open(&w->store, eng->cfg.database_url, &err), 0);
    int applied;
    assert_int_equal(w->store->ops->migrate(w->store, &applied, &err), 0);
    ag_rt_opts_t o = {.loop = &w->loop, .store = w->store, .scripts = eng->scripts,
                      .cpu_budget = eng->cfg.cpu_budget, .memory_limit = eng->cfg.memory_limit};
    assert_int_equal(ag_rt_new(&w->rt, &o, &err), 0);
    assert_int_equal(ag_queue_init(w, &err), 0);
    uv_timer_init(&w->loop, &fx->poll);
    fx->poll.data = fx;
}

static void worker_close(wfx_t *fx)
{
    ag_worker_t *w = fx->w;
    uv_close((uv_handle_t *)&fx->poll, NULL);
    ag_queue_close(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    assert_int_equal(ag_rt_waiting(w->rt), 0);
    assert_int_equal(w->nrunning, 0);
    assert_int_equal(w->npend, 0); /* every outcome was stored */
    /* ag_queue_close leaves these to the owner (ag_engine_destroy does not free them either) */
    free(w->pend);
    free(w->running);
    ag_rt_free(w->rt);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&w->loop), 0); /* nothing left open */
    ag_store_close(w->store);
    free(fx->eng.workers);
    ag_scripts_free(fx->eng.scripts);
    free(fx->eng.buckets);
    pthread_mutex_destroy(&fx->eng.waiters_mu);
    nftw(fx->root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int64_t create_queued(ag_worker_t *w, int max_attempts)
{
    ag_task_new_t n = {.type = "t.flaky", .domain = "t", .agent = "flaky", .input = "{\"n\":1}",
                       .max_attempts = max_attempts, .queued = 1};
    ag_task_t t = {0};
    int existed;
    ag_err_t err;
    assert_int_equal(w->store->ops->task_create(w->store, &n, &t, &existed, &err), 0);
    int64_t id = t.id;
    ag_task_clear(&t);
    return id;
}

/* Every 2 ms: look at the task; while it waits for its retry, try to steal it with another owner. */
static void on_poll(uv_timer_t *h)
{
    wfx_t *fx = h->data;
    ag_worker_t *w = fx->w;
    ag_task_t t = {0};
    ag_err_t err;
    if (w->store->ops->task_get(w->store, fx->id, &t, &err) != 0) {
        fx->done = -1;
        uv_stop(&w->loop);
        return;
    }
    int64_t now = ag_now_ms();
    if (t.state == AG_TASK_FAILED && t.run_at > now + 2) {
        if (!fx->seen_failed) {
            fx->failed_run_at = t.run_at;
            fx->failed_updated_at = t.updated_at;
        }
        fx->seen_failed++;
        ag_claim_t *c = NULL;
        size_t nc = 0;
        if (w->store->ops->sync(w->store, NULL, 0, "thief", 10, 60000, &c, &nc, &err) == 0 && nc > 0)
            fx->claimed_early++;
        ag_claims_free(c, nc);
    }
    if (ag_task_state_terminal(t.state) || now > fx->deadline) {
        fx->done = 1;
        uv_timer_stop(h);
        atomic_store(&fx->eng.stopping, 1);
        uv_stop(&w->loop);
    }
    ag_task_clear(&t);
}

static void run_worker_until_terminal(wfx_t *fx, int timeout_ms)
{
    fx->deadline = ag_now_ms() + timeout_ms;
    uv_timer_start(&fx->poll, on_poll, 2, 2);
    ag_queue_start(fx->w);
    uv_run(&fx->w->loop, UV_RUN_DEFAULT);
    assert_int_equal(fx->done, 1);
    /* stop the timers before closing, so the loop drains */
    uv_timer_stop(&fx->w->heartbeat);
    uv_timer_stop(&fx->w->recover);
    uv_timer_stop(&fx->w->due);
}

static void test_worker_retries_then_dead(void **state)
{
    (void)state;
    wfx_t *fx = calloc(1, sizeof(*fx));
    worker_open(fx,
                "local M = {}\n"
                "function M.run(task, ctx)\n"
                "  error('flaky failure on attempt ' .. task.attempt)\n"
                "end\n"
                "return M\n",
                "return { agent = 'flaky', max_attempts = 3, retry = { base_ms = 60, max_ms = 100 } }\n");
    fx->id = create_queued(fx->w, 3);
    run_worker_until_terminal(fx, 5000);

    ag_store_t *st = fx->w->store;
    ag_task_t t = {0};
    ag_err_t err;
    assert_int_equal(st->ops->task_get(st, fx->id, &t, &err), 0);
    assert_string_equal(ag_task_state_name(t.state), "dead");
    assert_int_equal(t.attempts, 3);
    assert_non_null(t.error);
    assert_non_null(strstr(t.error, "agents/flaky.lua:3:")); /* the last error, with file:line */
    assert_non_null(strstr(t.error, "flaky failure on attempt 3"));
    assert_non_null(t.script_version);
    assert_int_equal(strlen(t.script_version), 16);
    assert_null(t.result);
    assert_true(t.finished_at > 0);
    ag_task_clear(&t);

    /* while failed, run_at was in the future (by the backoff) and the task could not be claimed */
    assert_true(fx->seen_failed > 0);
    assert_int_equal(fx->claimed_early, 0);
    int64_t delay = fx->failed_run_at - fx->failed_updated_at;
    assert_true(delay >= 40 && delay <= 130);

    ag_task_event_t *ev;
    size_t n;
    assert_int_equal(st->ops->task_events(st, fx->id, &ev, &n, &err), 0);
    const char *want[] = {"queued", "running", "failed", "running", "failed", "running", "dead"};
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(ev[i].to, want[i]);
    assert_non_null(strstr(ev[2].detail, "attempt 1"));
    assert_non_null(strstr(ev[4].detail, "attempt 2"));
    assert_non_null(strstr(ev[6].detail, "attempt 3"));
    ag_task_events_free(ev, n);
    worker_close(fx);
    free(fx);
}

static void test_worker_non_retryable_error_is_dead_at_once(void **state)
{
    (void)state;
    wfx_t *fx = calloc(1, sizeof(*fx));
    worker_open(fx,
                "local M = {}\n"
                "function M.run(task, ctx)\n"
                "  error({ code = 'bad_input', message = 'no such lead', retryable = false })\n"
                "end\n"
                "return M\n",
                "return { agent = 'flaky', max_attempts = 5, retry = { base_ms = 10, max_ms = 20 } }\n");
    fx->id = create_queued(fx->w, 5);
    run_worker_until_terminal(fx, 5000);
    ag_task_t t = {0};
    ag_err_t err;
    assert_int_equal(fx->w->store->ops->task_get(fx->w->store, fx->id, &t, &err), 0);
    assert_string_equal(ag_task_state_name(t.state), "dead");
    assert_int_equal(t.attempts, 1);
    assert_non_null(strstr(t.error, "bad_input: "));
    assert_non_null(strstr(t.error, "no such lead"));
    ag_task_clear(&t);
    worker_close(fx);
    free(fx);
}

static void test_worker_success_after_retry(void **state)
{
    (void)state;
    wfx_t *fx = calloc(1, sizeof(*fx));
    worker_open(fx,
                "local M = {}\n"
                "function M.run(task, ctx)\n"
                "  if task.attempt < 2 then error('transient') end\n"
                "  sleep(0.01)\n"
                "  return { attempt = task.attempt, n = task.input.n }\n"
                "end\n"
                "return M\n",
                "return { agent = 'flaky', max_attempts = 3, retry = { base_ms = 20, max_ms = 40 } }\n");
    fx->id = create_queued(fx->w, 3);
    run_worker_until_terminal(fx, 5000);
    ag_task_t t = {0};
    ag_err_t err;
    assert_int_equal(fx->w->store->ops->task_get(fx->w->store, fx->id, &t, &err), 0);
    assert_string_equal(ag_task_state_name(t.state), "succeeded");
    assert_int_equal(t.attempts, 2);
    assert_non_null(t.result);
    assert_non_null(strstr(t.result, "\"attempt\":2"));
    assert_non_null(strstr(t.result, "\"n\":1"));
    ag_task_clear(&t);
    worker_close(fx);
    free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_grows_exponentially),
        cmocka_unit_test(test_backoff_capped_at_max),
        cmocka_unit_test(test_backoff_never_exceeds_max_ms),
        cmocka_unit_test(test_backoff_jitter_within_20_percent),
        cmocka_unit_test(test_backoff_defaults),
        cmocka_unit_test(test_retry_then_dead_through_store),
        cmocka_unit_test(test_worker_retries_then_dead),
        cmocka_unit_test(test_worker_non_retryable_error_is_dead_at_once),
        cmocka_unit_test(test_worker_success_after_retry),
    };
    return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
