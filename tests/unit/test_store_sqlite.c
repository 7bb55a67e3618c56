/*
 * test_store_sqlite.c: the store contract (store.h) against a real SQLite file in a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../../engine/store.h"

typedef struct fixture_s {
    char dir[64];
    char path[128];
    ag_store_t *st;
} fixture_t;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ag_store_XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    snprintf(fx->path, sizeof(fx->path), "%s/test.db", fx->dir);
    ag_err_t err;
    if (ag_store_sqlite_open(&fx->st, fx->path, &err) != 0)
        return -1;
    int applied = -1;
    if (fx->st->ops->migrate(fx->st, &applied, &err) != 0 || applied < 1)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    ag_store_close(fx->st);
    const char *sfx[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        char p[160];
        snprintf(p, sizeof(p), "%s%s", fx->path, sfx[i]);
        unlink(p);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* Creates a task and returns its id. */
static int64_t mk(ag_store_t *st, int queued, int priority, int64_t run_at, int max_attempts, const char *key)
{
    ag_task_new_t n = {.type = "t.job", .domain = "t", .agent = "job", .input = "{\"x\":1}", .idempotency_key = key,
                       .priority = priority, .max_attempts = max_attempts, .run_at = run_at, .queued = queued};
    ag_task_t t = {0};
    int existed = -1;
    ag_err_t err;
    int rc = st->ops->task_create(st, &n, &t, &existed, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(existed, 0);
    int64_t id = t.id;
    ag_task_clear(&t);
    return id;
}

static ag_task_state_t state_of(ag_store_t *st, int64_t id)
{
    ag_task_t t = {0};
    ag_err_t err;
    assert_int_equal(st->ops->task_get(st, id, &t, &err), 0);
    ag_task_state_t s = t.state;
    ag_task_clear(&t);
    return s;
}

/* Claims up to max for owner; returns the count and frees the claims unless out is given. */
static size_t claim(ag_store_t *st, const char *owner, int max, int lease_ms, ag_claim_t **out)
{
    ag_claim_t *c = NULL;
    size_t n = 0;
    ag_err_t err;
    assert_int_equal(st->ops->sync(st, NULL, 0, owner, max, lease_ms, &c, &n, &err), 0);
    if (out)
        *out = c;
    else
        ag_claims_free(c, n);
    return n;
}

static void apply(ag_store_t *st, const char *owner, int64_t id, ag_task_state_t s, const char *result,
                  const char *error, int64_t run_at)
{
    ag_outcome_t o = {.id = id, .state = s, .result = result, .error = error, .script_version = "0123456789abcdef",
                      .run_at = run_at};
    ag_claim_t *c = NULL;
    size_t n = 0;
    ag_err_t err;
    assert_int_equal(st->ops->sync(st, &o, 1, owner, 0, 1000, &c, &n, &err), 0);
    assert_int_equal(n, 0);
    ag_claims_free(c, n);
}

/* ---- migrations ---------------------------------------------------------------------------------------------- */

static void test_migrate_twice_applies_nothing(void **state)
{
    fixture_t *fx = *state;
    ag_err_t err;
    int applied = -1;
    assert_int_equal(fx->st->ops->migrate(fx->st, &applied, &err), 0);
    assert_int_equal(applied, 0);
    assert_int_equal(fx->st->ops->ping(fx->st, &err), 0);
    /* a second connection to the same file sees the schema as applied too */
    ag_store_t *again;
    char url[200];
    snprintf(url, sizeof(url), "sqlite:%s", fx->path);
    assert_int_equal(ag_store_open(&again, url, &err), 0);
    applied = -1;
    assert_int_equal(again->ops->migrate(again, &applied, &err), 0);
    assert_int_equal(applied, 0);
    ag_store_close(again);
}

/* ---- create / get ------------------------------------------------------------------------------------------- */

static void test_create_pending_vs_queued(void **state)
{
    fixture_t *fx = *state;
    int64_t before = 0;
    ag_task_new_t n = {.type = "t.job", .domain = "t", .agent = "job", .input = "{\"a\":[1,2]}", .priority = 7,
                       .max_attempts = 4};
    ag_task_t t = {0};
    int existed = -1;
    ag_err_t err;
    assert_int_equal(fx->st->ops->task_create(fx->st, &n, &t, &existed, &err), 0);
    assert_int_equal(existed, 0);
    assert_true(t.id > 0);
    assert_int_equal(t.state, AG_TASK_PENDING);
    assert_string_equal(t.type, "t.job");
    assert_string_equal(t.domain, "t");
    assert_string_equal(t.agent, "job");
    assert_string_equal(t.input, "{\"a\":[1,2]}");
    assert_int_equal(t.priority, 7);
    assert_int_equal(t.attempts, 0);
    assert_int_equal(t.max_attempts, 4);
    assert_null(t.result);
    assert_null(t.idempotency_key);
    assert_true(t.created_at > 0);
    assert_true(t.run_at >= t.created_at); /* run_at 0 means now */
    before = t.id;
    ag_task_clear(&t);

    n.queued = 1;
    n.input = NULL; /* defaults to {} */
    assert_int_equal(fx->st->ops->task_create(fx->st, &n, &t, &existed, &err), 0);
    assert_int_equal(existed, 0);
    assert_int_equal(t.state, AG_TASK_QUEUED);
    assert_true(t.id > before);
    assert_string_equal(t.input, "{}");
    ag_task_clear(&t);
}

static void test_create_idempotency_key_returns_existing(void **state)
{
    fixture_t *fx = *state;
    int64_t id = mk(fx->st, 0, 0, 0, 3, "order-42");
    ag_task_new_t n = {.type = "t.other", .domain = "t", .agent = "other", .input = "{\"different\":true}",
                       .idempotency_key = "order-42", .max_attempts = 3, .queued = 1};
    ag_task_t t = {0};
    int existed = 0;
    ag_err_t err;
    assert_int_equal(fx->st->ops->task_create(fx->st, &n, &t, &existed, &err), 0);
    assert_int_equal(existed, 1);
    assert_int_equal(t.id, id);
    assert_string_equal(t.type, "t.job"); /* the first one, unchanged */
    assert_string_equal(t.idempotency_key, "order-42");
    assert_int_equal(t.state, AG_TASK_PENDING);
    ag_task_clear(&t);
    /* another key makes another task */
    int64_t id2 = mk(fx->st, 0, 0, 0, 3, "order-43");
    assert_true(id2 != id);
}

static void test_get_unknown_is_enotfound(void **state)
{
    fixture_t *fx = *state;
    ag_task_t t = {0};
    ag_err_t err = {0};
    assert_int_equal(fx->st->ops->task_get(fx->st, 999999, &t, &err), AG_ENOTFOUND);
    ag_task_event_t *ev = NULL;
    size_t nev = 0;
    assert_int_equal(fx->st->ops->task_events(fx->st, 999999, &ev, &nev, &err), AG_ENOTFOUND);
}

/* ---- execute / cancel ---------------------------------------------------------------------------------------- */

static void test_execute_transitions(void **state)
{
    fixture_t *fx = *state;
    ag_err_t err;
    ag_task_t t = {0};
    int64_t id = mk(fx->st, 0, 0, 0, 3, NULL);
    assert_int_equal(fx->st->ops->task_execute(fx->st, id, &t, &err), 0);
    assert_int_equal(t.state, AG_TASK_QUEUED);
    ag_task_clear(&t);
    /* queued stays queued */
    assert_int_equal(fx->st->ops->task_execute(fx->st, id, &t, &err), 0);
    assert_int_equal(t.state, AG_TASK_QUEUED);
    ag_task_clear(&t);
    /* running */
    assert_int_equal(claim(fx->st, "w1", 10, 60000, NULL), 1);
    assert_int_equal(fx->st->ops->task_execute(fx->st, id, &t, &err), AG_ESTATE);
    assert_int_equal(t.state, AG_TASK_RUNNING);
    ag_task_clear(&t);
    /* terminal */
    apply(fx->st, "w1", id, AG_TASK_SUCCEEDED, "{\"ok\":true}", NULL, 0);
    assert_int_equal(fx->st->ops->task_execute(fx->st, id, &t, &err), AG_ESTATE);
    assert_int_equal(t.state, AG_TASK_SUCCEEDED);
    ag_task_clear(&t);
    /* unknown */
    assert_int_equal(fx->st->ops->task_execute(fx->st, 424242, &t, &err), AG_ENOTFOUND);
}

static void test_cancel_transitions(void **state)
{
    fixture_t *fx = *state;
    ag_err_t err;
    ag_task_t t = {0};
    int requested = -1;
    /* queued: cancelled at once */
    int64_t q = mk(fx->st, 1, 0, 0, 3, NULL);
    assert_int_equal(fx->st->ops->task_cancel(fx->st, q, &t, &requested, &err), 0);
    assert_int_equal(requested, 0);
    assert_int_equal(t.state, AG_TASK_CANCELLED);
    assert_true(t.finished_at > 0);
    ag_task_clear(&t);
    /* a cancelled task is never claimed */
    assert_int_equal(claim(fx->st, "w1", 10, 60000, NULL), 0);
    /* pending: at once too */
    int64_t p = mk(fx->st, 0, 0, 0, 3, NULL);
    assert_int_equal(fx->st->ops->task_cancel(fx->st, p, &t, &requested, &err), 0);
    assert_int_equal(requested, 0);
    assert_int_equal(t.state, AG_TASK_CANCELLED);
    ag_task_clear(&t);
    /* running: requested, still running */
    int64_t r = mk(fx->st, 1, 0, 0, 3, NULL);
    assert_int_equal(claim(fx->st, "w1", 10, 60000, NULL), 1);
    assert_int_equal(fx->st->ops->task_cancel(fx->st, r, &t, &requested, &err), 0);
    assert_int_equal(requested, 1);
    assert_int_equal(t.state, AG_TASK_RUNNING);
    ag_task_clear(&t);
    /* succeeded: AG_ESTATE */
    apply(fx->st, "w1", r, AG_TASK_SUCCEEDED, "1", NULL, 0);
    assert_int_equal(fx->st->ops->task_cancel(fx->st, r, &t, &requested, &err), AG_ESTATE);
    assert_int_equal(requested, 0);
    assert_int_equal(t.state, AG_TASK_SUCCEEDED);
    ag_task_clear(&t);
    /* cancelled again: AG_ESTATE */
    assert_int_equal(fx->st->ops->task_cancel(fx->st, q, &t, &requested, &err), AG_ESTATE);
    ag_task_clear(&t);
    assert_int_equal(fx->st->ops->task_cancel(fx->st, 777777, &t, &requested, &err), AG_ENOTFOUND);
}

/* ---- sync ---------------------------------------------------------------------------------------------------- */

static void test_sync_claims_priority_then_run_at(void **state)
{
    fixture_t *fx = *state;
    int64_t now = ag_now_ms();
    int64_t a = mk(fx->st, 1, 0, now - 3000, 3, NULL);
    int64_t b = mk(fx->st, 1, 5, now - 1000, 3, NULL);
    int64_t c = mk(fx->st, 1, 5, now - 2000, 3, NULL);
    int64_t d = mk(fx->st, 1, 0, now - 4000, 3, NULL);
    int64_t future = mk(fx->st, 1, 100, now + 60000, 3, NULL);
    mk(fx->st, 0, 100, now - 5000, 3, NULL); /* pending: never claimed */
    int64_t order[] = {c, b, d, a};
    for (int i = 0; i < 4; i++) {
        ag_claim_t *cl;
        assert_int_equal(claim(fx->st, "w1", 1, 60000, &cl), 1);
        assert_int_equal(cl[0].id, order[i]);
        assert_int_equal(cl[0].attempts, 1);
        assert_int_equal(cl[0].max_attempts, 3);
        assert_string_equal(cl[0].type, "t.job");
        assert_string_equal(cl[0].domain, "t");
        assert_string_equal(cl[0].agent, "job");
        assert_string_equal(cl[0].input, "{\"x\":1}");
        ag_claims_free(cl, 1);
        assert_int_equal(state_of(fx->st, order[i]), AG_TASK_RUNNING);
    }
    /* the future task (even with the highest priority) and the pending one stay */
    assert_int_equal(claim(fx->st, "w1", 10, 60000, NULL), 0);
    assert_int_equal(state_of(fx->st, future), AG_TASK_QUEUED);
}

static void test_sync_claims_at_most_max(void **state)
{
    fixture_t *fx = *state;
    for (int i = 0; i < 5; i++)
        mk(fx->st, 1, 0, 0, 3, NULL);
    assert_int_equal(claim(fx->st, "w1", 3, 60000, NULL), 3);
    assert_int_equal(claim(fx->st, "w2", 10, 60000, NULL), 2);
    assert_int_equal(claim(fx->st, "w2", 10, 60000, NULL), 0);
    /* max 0 and nothing to apply is a no-op */
    assert_int_equal(claim(fx->st, "w2", 0, 60000, NULL), 0);
}

static void test_sync_outcome_only_for_lease_owner(void **state)
{
    fixture_t *fx = *state;
    int64_t id = mk(fx->st, 1, 0, 0, 3, NULL);
    assert_int_equal(claim(fx->st, "owner-a", 1, 60000, NULL), 1);
    /* another owner's outcome changes nothing */
    apply(fx->st, "owner-b", id, AG_TASK_SUCCEEDED, "{\"stolen\":true}", NULL, 0);
    ag_task_t t = {0};
    ag_err_t err;
    assert_int_equal(fx->st->ops->task_get(fx->st, id, &t, &err), 0);
    assert_int_equal(t.state, AG_TASK_RUNNING);
    assert_null(t.result);
    ag_task_clear(&t);
    /* the owner's outcome applies */
    apply(fx->st, "owner-a", id, AG_TASK_SUCCEEDED, "{\"ok\":1}", NULL, 0);
    assert_int_equal(fx->st->ops->task_get(fx->st, id, &t, &err), 0);
    assert_int_equal(t.state, AG_TASK_SUCCEEDED);
    assert_string_equal(t.result, "{\"ok\":1}");
    assert_string_equal(t.script_version, "0123456789abcdef");
    assert_true(t.finished_at > 0);
    assert_int_equal(t.attempts, 1);
    ag_task_clear(&t);
    /* a second outcome for a finished task changes nothing either */
    apply(fx->st, "owner-a", id, AG_TASK_DEAD, NULL, "late", 0);
    assert_int_equal(state_of(fx->st, id), AG_TASK_SUCCEEDED);
}

static void test_sync_applies_outcomes_then_claims_in_one_call(void **state)
{
    fixture_t *fx = *state;
    int64_t first = mk(fx->st, 1, 0, 0, 3, NULL);
    assert_int_equal(claim(fx->st, "w1", 1, 60000, NULL), 1);
    int64_t second = mk(fx->st, 1, 0, 0, 3, NULL);
    ag_outcome_t o = {.id = first, .state = AG_TASK_SUCCEEDED, .result = "2"};
    ag_claim_t *c = NULL;
    size_t n = 0;
    ag_err_t err;
    assert_int_equal(fx->st->ops->sync(fx->st, &o, 1, "w1", 5, 60000, &c, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].id, second);
    ag_claims_free(c, n);
    assert_int_equal(state_of(fx->st, first), AG_TASK_SUCCEEDED);
}

/* ---- heartbeat / recover --------------------------------------------------------------------------------------- */

static void test_heartbeat_renews_and_reports_cancels(void **state)
{
    fixture_t *fx = *state;
    ag_err_t err;
    int64_t a = mk(fx->st, 1, 0, 0, 3, NULL);
    int64_t b = mk(fx->st, 1, 0, 0, 3, NULL);
    assert_int_equal(claim(fx->st, "w1", 2, 1, NULL), 2); /* lease of 1 ms */
    sleep_ms(20);
    int64_t ids[2] = {a, b};
    int64_t *cancel = NULL;
    size_t ncancel = 99;
    assert_int_equal(fx->st->ops->heartbeat(fx->st, "w1", ids, 2, 60000, &cancel, &ncancel, &err), 0);
    assert_int_equal(ncancel, 0);
    free(cancel);
    /* renewed: nothing to recover */
    size_t rec = 99;
    assert_int_equal(fx->st->ops->recover(fx->st, &rec, &err), 0);
    assert_int_equal(rec, 0);
    assert_int_equal(state_of(fx->st, a), AG_TASK_RUNNING);
    /* a cancel request on b is reported by the next heartbeat */
    ag_task_t t = {0};
    int requested = 0;
    assert_int_equal(fx->st->ops->task_cancel(fx->st, b, &t, &requested, &err), 0);
    assert_int_equal(requested, 1);
    ag_task_clear(&t);
    assert_int_equal(fx->st->ops->heartbeat(fx->st, "w1", ids, 2, 60000, &cancel, &ncancel, &err), 0);
    assert_int_equal(ncancel, 1);
    assert_int_equal(cancel[0], b);
    free(cancel);
    /* another owner neither renews nor learns about the cancels */
    assert_int_equal(fx->st->ops->heartbeat(fx->st, "w2", ids, 2, 60000, &cancel, &ncancel, &err), 0);
    assert_int_equal(ncancel, 0);
    free(cancel);
    /* an empty heartbeat is fine */
    assert_int_equal(fx->st->ops->heartbeat(fx->st, "w1", NULL, 0, 60000, &cancel, &ncancel, &err), 0);
    assert_int_equal(ncancel, 0);
}

static void test_heartbeat_of_other_owner_does_not_renew(void **state)
{
    fixture_t *fx = *state;
    ag_err_t err;
    int64_t a = mk(fx->st, 1, 0, 0, 3, NULL);
    assert_int_equal(claim(fx->st, "w1", 1, 1, NULL), 1);
    sleep_ms(20);
    int64_t *cancel = NULL;
    size_t ncancel = 0;
    assert_int_equal(fx->st->ops->heartbeat(fx->st, "w2", &a, 1, 60000, &cancel, &ncancel, &err), 0);
    free(cancel);
    size_t rec = 0;
    assert_int_equal(fx->st->ops->recover(fx->st, &rec, &err), 0);
    assert_int_equal(rec, 1);
    assert_int_equal(state_of(fx->st, a), AG_TASK_QUEUED);
}

static void test_recover_expired_lease(void **state)
{
    fixture_t *fx = *state;
    ag_err_t err;
    int64_t again = mk(fx->st, 1, 0, 0, 3, NULL); /* attempts left: back to queued */
    int64_t last = mk(fx->st, 1, 0, 0, 1, NULL);  /* its only attempt: dead */
    int64_t fresh = mk(fx->st, 1, 0, 0, 3, NULL);
    assert_int_equal(claim(fx->st, "lost", 2, 1, NULL), 2);
    assert_int_equal(claim(fx->st, "alive", 1, 60000, NULL), 1); /* a healthy lease is left alone */
    sleep_ms(20);
    size_t rec = 0;
    assert_int_equal(fx->st->ops->recover(fx->st, &rec, &err), 0);
    assert_int_equal(rec, 2);
    ag_task_t t = {0};
    assert_int_equal(fx->st->ops->task_get(fx->st, again, &t, &err), 0);
    assert_int_equal(t.state, AG_TASK_QUEUED);
    assert_int_equal(t.attempts, 1);
    assert_non_null(t.error);
    assert_non_null(strstr(t.error, "lease expired"));
    ag_task_clear(&t);
    assert_int_equal(fx->st->ops->task_get(fx->st, last, &t, &err), 0);
    assert_int_equal(t.state, AG_TASK_DEAD);
    assert_int_equal(t.attempts, 1);
    assert_non_null(strstr(t.error, "lease expired"));
    assert_true(t.finished_at > 0);
    ag_task_clear(&t);
    assert_int_equal(state_of(fx->st, fresh), AG_TASK_RUNNING);
    /* the lost owner's late outcome is refused */
    apply(fx->st, "lost", again, AG_TASK_SUCCEEDED, "1", NULL, 0);
    assert_int_equal(state_of(fx->st, again), AG_TASK_QUEUED);
    /* the recovered task is claimable again, as its second attempt */
    ag_claim_t *c;
    assert_int_equal(claim(fx->st, "w2", 5, 60000, &c), 1);
    assert_int_equal(c[0].id, again);
    assert_int_equal(c[0].attempts, 2);
    ag_claims_free(c, 1);
    assert_int_equal(fx->st->ops->recover(fx->st, &rec, &err), 0);
    assert_int_equal(rec, 0);
}

/* ---- next_due ------------------------------------------------------------------------------------------------ */

static void test_next_due(void **state)
{
    fixture_t *fx = *state;
    ag_err_t err;
    int64_t at = -1;
    assert_int_equal(fx->st->ops->next_due(fx->st, &at, &err), 0);
    assert_int_equal(at, 0);
    int64_t now = ag_now_ms();
    mk(fx->st, 0, 0, now + 1000, 3, NULL); /* pending: not waiting to be claimed */
    assert_int_equal(fx->st->ops->next_due(fx->st, &at, &err), 0);
    assert_int_equal(at, 0);
    mk(fx->st, 1, 0, now + 50000, 3, NULL);
    mk(fx->st, 1, 0, now + 20000, 3, NULL);
    assert_int_equal(fx->st->ops->next_due(fx->st, &at, &err), 0);
    assert_int_equal(at, now + 20000);
    /* a failed task waiting for its retry counts */
    int64_t f = mk(fx->st, 1, 0, 0, 3, NULL);
    assert_int_equal(claim(fx->st, "w1", 1, 60000, NULL), 1);
    apply(fx->st, "w1", f, AG_TASK_FAILED, NULL, "e", now + 10000);
    assert_int_equal(fx->st->ops->next_due(fx->st, &at, &err), 0);
    assert_int_equal(at, now + 10000);
}

/* ---- events --------------------------------------------------------------------------------------------------- */

static void test_events_record_every_transition(void **state)
{
    fixture_t *fx = *state;
    ag_err_t err;
    ag_task_t t = {0};
    int64_t id = mk(fx->st, 0, 0, 0, 3, NULL);
    assert_int_equal(fx->st->ops->task_execute(fx->st, id, &t, &err), 0);
    ag_task_clear(&t);
    assert_int_equal(claim(fx->st, "w1", 1, 60000, NULL), 1);
    apply(fx->st, "w1", id, AG_TASK_FAILED, NULL, "first try failed", ag_now_ms() - 1);
    assert_int_equal(claim(fx->st, "w1", 1, 60000, NULL), 1);
    apply(fx->st, "w1", id, AG_TASK_SUCCEEDED, "{\"done\":true}", NULL, 0);

    ag_task_event_t *ev = NULL;
    size_t n = 0;
    assert_int_equal(fx->st->ops->task_events(fx->st, id, &ev, &n, &err), 0);
    const char *want[][2] = {{NULL, "pending"},      {"pending", "queued"}, {"queued", "running"},
                             {"running", "failed"},  {"failed", "running"}, {"running", "succeeded"}};
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        if (want[i][0] == NULL)
            assert_null(ev[i].from);
        else
            assert_string_equal(ev[i].from, want[i][0]);
        assert_string_equal(ev[i].to, want[i][1]);
        assert_true(ev[i].at > 0);
        if (i > 0)
            assert_true(ev[i].at >= ev[i - 1].at);
    }
    assert_non_null(ev[3].detail);
    assert_string_equal(ev[3].detail, "first try failed");
    assert_non_null(ev[2].detail); /* the owner that claimed it */
    assert_string_equal(ev[2].detail, "w1");
    ag_task_events_free(ev, n);
}

/* ---- kv / script versions -------------------------------------------------------------------------------------- */

static void test_kv_get_set_del(void **state)
{
    fixture_t *fx = *state;
    ag_err_t err;
    char *v = NULL;
    assert_int_equal(fx->st->ops->kv_get(fx->st, "t", "k", &v, &err), AG_ENOTFOUND);
    assert_null(v);
    assert_int_equal(fx->st->ops->kv_set(fx->st, "t", "k", "{\"a\":1}", 0, &err), 0);
    assert_int_equal(fx->st->ops->kv_get(fx->st, "t", "k", &v, &err), 0);
    assert_string_equal(v, "{\"a\":1}");
    free(v);
    assert_int_equal(fx->st->ops->kv_set(fx->st, "t", "k", "[2]", 0, &err), 0); /* overwrite */
    assert_int_equal(fx->st->ops->kv_get(fx->st, "t", "k", &v, &err), 0);
    assert_string_equal(v, "[2]");
    free(v);
    /* domains are separate */
    assert_int_equal(fx->st->ops->kv_get(fx->st, "other", "k", &v, &err), AG_ENOTFOUND);
    assert_int_equal(fx->st->ops->kv_del(fx->st, "t", "k", &err), 0);
    assert_int_equal(fx->st->ops->kv_get(fx->st, "t", "k", &v, &err), AG_ENOTFOUND);
    /* deleting an absent key is fine */
    assert_int_equal(fx->st->ops->kv_del(fx->st, "t", "k", &err), 0);
}

static void test_script_version_put_twice(void **state)
{
    fixture_t *fx = *state;
    ag_err_t err;
    assert_int_equal(fx->st->ops->script_version_put(fx->st, "00112233aabbccdd", "t/agents/a.lua", "return {}", &err),
                     0);
    assert_int_equal(fx->st->ops->script_version_put(fx->st, "00112233aabbccdd", "t/agents/a.lua", "return {}", &err),
                     0);
    assert_int_equal(fx->st->ops->script_version_put(fx->st, "ffeeddccbbaa9988", "t/agents/a.lua", "return {1}", &err),
                     0);
}

static void test_store_open_url_schemes(void **state)
{
    (void)state;
    ag_store_t *s = NULL;
    ag_err_t err;
    assert_int_equal(ag_store_open(&s, "postgres://u:p@h/db", &err), AG_ECONFIG);
    assert_int_equal(ag_store_open(&s, "mysql://x", &err), AG_ECONFIG);
    assert_int_equal(ag_store_open(&s, "sqlite:", &err), AG_ECONFIG);
    assert_int_equal(ag_store_open(&s, "sqlite::memory:", &err), 0);
    int applied = 0;
    assert_int_equal(s->ops->migrate(s, &applied, &err), 0);
    assert_true(applied >= 1);
    ag_store_close(s);
}

/* ---- task_list / task_retry ------------------------------------------------------------------------------------ */

/* Creates a task of domain/agent (type "domain.agent") and returns its id. */
static int64_t mk_in(ag_store_t *st, const char *domain, const char *agent, int queued)
{
    char type[64];
    snprintf(type, sizeof(type), "%s.%s", domain, agent);
    ag_task_new_t n = {.type = type, .domain = domain, .agent = agent, .input = "{}", .max_attempts = 3,
                       .queued = queued};
    ag_task_t t = {0};
    int existed = -1;
    ag_err_t err;
    assert_int_equal(st->ops->task_create(st, &n, &t, &existed, &err), 0);
    int64_t id = t.id;
    ag_task_clear(&t);
    return id;
}

/* Runs sql on a second connection to the fixture's file (what the store API cannot set: workflow ids, times). */
static void raw_sql(fixture_t *fx, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_close(db);
}

/* Lists with f (every page of size page); fills ids (newest first) and returns the count. */
static size_t list_all(ag_store_t *st, const ag_task_filter_t *f, int page, int64_t *ids, size_t cap)
{
    size_t total = 0;
    int64_t before = 0;
    for (int guard = 0; guard < 1000; guard++) {
        ag_task_t *items = NULL;
        size_t n = 0;
        int64_t next = -1;
        ag_err_t err;
        assert_int_equal(st->ops->task_list(st, f, before, page, &items, &n, &next, &err), 0);
        assert_true(n <= (size_t)page);
        for (size_t i = 0; i < n; i++) {
            assert_true(total < cap);
            ids[total++] = items[i].id;
            ag_task_clear(&items[i]);
        }
        free(items);
        if (next == 0)
            return total;
        assert_int_equal(n, page); /* only a full page has a next one */
        assert_int_equal(next, ids[total - 1]);
        before = next;
    }
    fail_msg("pagination did not end");
    return 0;
}

static void test_list_pages_newest_first_each_once(void **state)
{
    fixture_t *fx = *state;
    int64_t made[7];
    for (int i = 0; i < 7; i++)
        made[i] = mk(fx->st, 0, 0, 0, 3, NULL);
    ag_task_filter_t any = {.state = -1};
    int64_t ids[16];
    for (int page = 1; page <= 8; page++) {
        size_t n = list_all(fx->st, &any, page, ids, 16);
        assert_int_equal(n, 7);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(ids[i], made[6 - i]); /* newest first, each exactly once */
    }
    /* exactly one page: no next cursor */
    ag_task_t *items = NULL;
    size_t n = 0;
    int64_t next = -1;
    ag_err_t err;
    assert_int_equal(fx->st->ops->task_list(fx->st, &any, 0, 7, &items, &n, &next, &err), 0);
    assert_int_equal(n, 7);
    assert_int_equal(next, 0);
    for (size_t i = 0; i < n; i++)
        ag_task_clear(&items[i]);
    free(items);
    /* a cursor below every id: an empty page */
    assert_int_equal(fx->st->ops->task_list(fx->st, &any, made[0], 5, &items, &n, &next, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(next, 0);
    free(items);
}

static void test_list_limit_bounds(void **state)
{
    fixture_t *fx = *state;
    ag_task_filter_t any = {.state = -1};
    ag_task_t *items = NULL;
    size_t n = 0;
    int64_t next = 0;
    ag_err_t err;
    assert_int_equal(fx->st->ops->task_list(fx->st, &any, 0, 0, &items, &n, &next, &err), AG_EINVAL);
    assert_int_equal(fx->st->ops->task_list(fx->st, &any, 0, AG_TASK_LIST_MAX + 1, &items, &n, &next, &err),
                     AG_EINVAL);
    ag_task_filter_t bad_state = {.state = AG_TASK__NSTATES};
    assert_int_equal(fx->st->ops->task_list(fx->st, &bad_state, 0, 10, &items, &n, &next, &err), AG_EINVAL);
    assert_int_equal(fx->st->ops->task_list(fx->st, &any, 0, AG_TASK_LIST_MAX, &items, &n, &next, &err), 0);
    assert_int_equal(n, 0);
    free(items);
}

static int has_id(const int64_t *ids, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

static void test_list_filters(void **state)
{
    fixture_t *fx = *state;
    int64_t a1 = mk_in(fx->st, "alpha", "one", 0), a2 = mk_in(fx->st, "alpha", "two", 1);
    int64_t b1 = mk_in(fx->st, "beta", "one", 0), b2 = mk_in(fx->st, "beta", "two", 1);
    int64_t b3 = mk_in(fx->st, "beta", "two", 0);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "UPDATE tasks SET workflow_id = 'wf-1' WHERE id IN (%lld, %lld);"
             "UPDATE tasks SET created_at = 1000 WHERE id = %lld; UPDATE tasks SET created_at = 2000 WHERE id = %lld;"
             "UPDATE tasks SET created_at = 3000 WHERE id IN (%lld, %lld); "
             "UPDATE tasks SET created_at = 4000 WHERE id = %lld",
             (long long)a2, (long long)b3, (long long)a1, (long long)a2, (long long)b1, (long long)b2, (long long)b3);
    raw_sql(fx, sql);
    int64_t ids[16];
    size_t n;

    ag_task_filter_t f = {.state = -1, .domain = "beta"};
    n = list_all(fx->st, &f, 2, ids, 16);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], b3);
    assert_int_equal(ids[1], b2);
    assert_int_equal(ids[2], b1);

    f = (ag_task_filter_t){.state = -1, .agent = "two"};
    n = list_all(fx->st, &f, 50, ids, 16);
    assert_int_equal(n, 3);
    assert_true(has_id(ids, n, a2) && has_id(ids, n, b2) && has_id(ids, n, b3));

    f = (ag_task_filter_t){.state = -1, .type = "beta.two"};
    n = list_all(fx->st, &f, 1, ids, 16);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], b3);
    assert_int_equal(ids[1], b2);

    f = (ag_task_filter_t){.state = AG_TASK_QUEUED};
    n = list_all(fx->st, &f, 50, ids, 16);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], b2);
    assert_int_equal(ids[1], a2);

    f = (ag_task_filter_t){.state = AG_TASK_PENDING, .domain = "beta"};
    n = list_all(fx->st, &f, 50, ids, 16);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], b3);
    assert_int_equal(ids[1], b1);

    f = (ag_task_filter_t){.state = -1, .workflow_id = "wf-1"};
    n = list_all(fx->st, &f, 50, ids, 16);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], b3);
    assert_int_equal(ids[1], a2);
    ag_task_t t = {0};
    ag_err_t err;
    assert_int_equal(fx->st->ops->task_get(fx->st, a2, &t, &err), 0);
    assert_string_equal(t.workflow_id, "wf-1");
    ag_task_clear(&t);
    assert_int_equal(fx->st->ops->task_get(fx->st, a1, &t, &err), 0);
    assert_null(t.workflow_id);
    ag_task_clear(&t);

    /* created_after is inclusive, created_before exclusive */
    f = (ag_task_filter_t){.state = -1, .created_after = 2000};
    n = list_all(fx->st, &f, 50, ids, 16);
    assert_int_equal(n, 4);
    assert_false(has_id(ids, n, a1));
    f = (ag_task_filter_t){.state = -1, .created_before = 3000};
    n = list_all(fx->st, &f, 50, ids, 16);
    assert_int_equal(n, 2);
    assert_true(has_id(ids, n, a1) && has_id(ids, n, a2));
    f = (ag_task_filter_t){.state = -1, .created_after = 2000, .created_before = 4000, .domain = "beta"};
    n = list_all(fx->st, &f, 1, ids, 16);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], b2);
    assert_int_equal(ids[1], b1);

    /* nothing matches */
    f = (ag_task_filter_t){.state = -1, .domain = "gamma"};
    assert_int_equal(list_all(fx->st, &f, 50, ids, 16), 0);
    f = (ag_task_filter_t){.state = AG_TASK_DEAD};
    assert_int_equal(list_all(fx->st, &f, 50, ids, 16), 0);
}

/* Makes a queued task dead (one attempt allowed, and it failed). */
static int64_t mk_dead(fixture_t *fx)
{
    int64_t id = mk(fx->st, 1, 0, 0, 1, NULL);
    assert_int_equal(claim(fx->st, "w1", 1, 60000, NULL), 1);
    apply(fx->st, "w1", id, AG_TASK_DEAD, NULL, "gave up", 0);
    assert_int_equal(state_of(fx->st, id), AG_TASK_DEAD);
    return id;
}

static void test_retry_dead_task_requeues_with_attempts_reset(void **state)
{
    fixture_t *fx = *state;
    int64_t id = mk_dead(fx);
    ag_task_t t = {0};
    ag_err_t err;
    int64_t before = ag_now_ms();
    assert_int_equal(fx->st->ops->task_retry(fx->st, id, &t, &err), 0);
    assert_int_equal(t.id, id);
    assert_int_equal(t.state, AG_TASK_QUEUED);
    assert_int_equal(t.attempts, 0);
    assert_true(t.run_at >= before && t.run_at <= ag_now_ms());
    assert_int_equal(t.finished_at, 0);
    assert_null(t.error);
    ag_task_clear(&t);
    /* the event log says why it went back */
    ag_task_event_t *ev = NULL;
    size_t n = 0;
    assert_int_equal(fx->st->ops->task_events(fx->st, id, &ev, &n, &err), 0);
    assert_true(n >= 2);
    assert_string_equal(ev[n - 2].to, "dead");
    assert_string_equal(ev[n - 1].from, "dead");
    assert_string_equal(ev[n - 1].to, "queued");
    assert_non_null(ev[n - 1].detail);
    assert_non_null(strstr(ev[n - 1].detail, "retried"));
    assert_string_equal(ev[n - 2].detail, "gave up"); /* the earlier event is untouched */
    ag_task_events_free(ev, n);
    /* it is claimable again, and its attempts count from 0 */
    ag_claim_t *c = NULL;
    assert_int_equal(claim(fx->st, "w2", 1, 60000, &c), 1);
    assert_int_equal(c[0].id, id);
    assert_int_equal(c[0].attempts, 1);
    ag_claims_free(c, 1);
}

static void test_retry_failed_task_runs_now(void **state)
{
    fixture_t *fx = *state;
    int64_t id = mk(fx->st, 1, 0, 0, 3, NULL);
    assert_int_equal(claim(fx->st, "w1", 1, 60000, NULL), 1);
    int64_t later = ag_now_ms() + 3600 * 1000;
    apply(fx->st, "w1", id, AG_TASK_FAILED, NULL, "try again", later);
    assert_int_equal(claim(fx->st, "w1", 1, 60000, NULL), 0); /* not due for an hour */
    ag_task_t t = {0};
    ag_err_t err;
    assert_int_equal(fx->st->ops->task_retry(fx->st, id, &t, &err), 0);
    assert_int_equal(t.state, AG_TASK_QUEUED);
    assert_int_equal(t.attempts, 0);
    assert_true(t.run_at < later);
    ag_task_clear(&t);
    assert_int_equal(claim(fx->st, "w1", 1, 60000, NULL), 1);
}

static void test_retry_other_states_refused(void **state)
{
    fixture_t *fx = *state;
    ag_task_t t = {0};
    ag_err_t err;
    int64_t pending = mk(fx->st, 0, 0, 0, 3, NULL);
    assert_int_equal(fx->st->ops->task_retry(fx->st, pending, &t, &err), AG_ESTATE);
    assert_int_equal(t.state, AG_TASK_PENDING);
    assert_non_null(strstr(err.msg, "pending"));
    ag_task_clear(&t);

    int64_t done = mk(fx->st, 1, 0, 0, 3, NULL);
    assert_int_equal(claim(fx->st, "w1", 1, 60000, NULL), 1);
    assert_int_equal(fx->st->ops->task_retry(fx->st, done, &t, &err), AG_ESTATE); /* running */
    assert_int_equal(t.state, AG_TASK_RUNNING);
    ag_task_clear(&t);
    apply(fx->st, "w1", done, AG_TASK_SUCCEEDED, "{}", NULL, 0);
    assert_int_equal(fx->st->ops->task_retry(fx->st, done, &t, &err), AG_ESTATE);
    assert_int_equal(t.state, AG_TASK_SUCCEEDED);
    assert_int_equal(t.attempts, 1); /* unchanged */
    ag_task_clear(&t);
    assert_int_equal(state_of(fx->st, done), AG_TASK_SUCCEEDED);

    assert_int_equal(fx->st->ops->task_retry(fx->st, 999999, &t, &err), AG_ENOTFOUND);
    /* a refused retry wrote nothing: the store still takes writes (no transaction left open) */
    mk(fx->st, 0, 0, 0, 3, NULL);
}

/* ---- agent records -------------------------------------------------------------------------------------------- */

/* Creates a queued task for domain d, agent script a; returns its id. */
static int64_t mk_for(ag_store_t *st, const char *d, const char *a)
{
    ag_task_new_t n = {.type = "t.job", .domain = d, .agent = a, .input = "{}", .max_attempts = 3, .queued = 1};
    ag_task_t t = {0};
    int existed = -1;
    ag_err_t err;
    assert_int_equal(st->ops->task_create(st, &n, &t, &existed, &err), 0);
    int64_t id = t.id;
    ag_task_clear(&t);
    return id;
}

static int64_t mk_agent(ag_store_t *st, const char *domain, const char *name, const char *script, const char *status)
{
    ag_agent_new_t n = {.name = name, .domain = domain, .script = script, .status = status};
    ag_agent_t a;
    ag_err_t err;
    assert_int_equal(st->ops->agent_create(st, &n, &a, &err), 0);
    int64_t id = a.id;
    ag_agent_clear(&a);
    return id;
}

static void test_agent_create_get_unique_per_domain(void **state)
{
    fixture_t *fx = *state;
    ag_store_t *st = fx->st;
    ag_err_t err;
    ag_agent_new_t n = {.name = "qualifier", .domain = "sales"}; /* script, JSON texts and status default */
    ag_agent_t a;
    assert_int_equal(st->ops->agent_create(st, &n, &a, &err), 0);
    assert_true(a.id > 0);
    assert_string_equal(a.name, "qualifier");
    assert_string_equal(a.domain, "sales");
    assert_string_equal(a.script, "qualifier");
    assert_string_equal(a.capabilities, "[]");
    assert_string_equal(a.tools, "[]");
    assert_string_equal(a.config, "{}");
    assert_string_equal(a.status, "active");
    assert_true(a.created_at > 0);
    assert_int_equal(a.updated_at, a.created_at);
    int64_t id = a.id;
    ag_agent_clear(&a);

    ag_agent_new_t full = {.name = "Lead scorer", .domain = "sales", .script = "qualifier",
                           .capabilities = "[\"score\"]", .tools = "[\"crm\",\"mail\"]", .config = "{\"t\":0.5}",
                           .status = "paused"};
    assert_int_equal(st->ops->agent_create(st, &full, &a, &err), 0);
    int64_t id2 = a.id;
    ag_agent_clear(&a);
    assert_int_equal(st->ops->agent_get(st, id2, &a, &err), 0);
    assert_string_equal(a.name, "Lead scorer");
    assert_string_equal(a.script, "qualifier");
    assert_string_equal(a.capabilities, "[\"score\"]");
    assert_string_equal(a.tools, "[\"crm\",\"mail\"]");
    assert_string_equal(a.config, "{\"t\":0.5}");
    assert_string_equal(a.status, "paused");
    ag_agent_clear(&a);

    /* the name is unique per domain, not globally */
    assert_int_equal(st->ops->agent_create(st, &n, &a, &err), AG_EEXIST);
    assert_null(a.name);
    ag_agent_new_t other = {.name = "qualifier", .domain = "support"};
    assert_int_equal(st->ops->agent_create(st, &other, &a, &err), 0);
    assert_true(a.id != id);
    ag_agent_clear(&a);

    assert_int_equal(st->ops->agent_get(st, 999999, &a, &err), AG_ENOTFOUND);
    assert_null(a.name);
}

static void test_agent_list_filters_and_cursor_pages(void **state)
{
    fixture_t *fx = *state;
    ag_store_t *st = fx->st;
    ag_err_t err;
    int64_t ids[7];
    const char *names[7] = {"a", "b", "c", "d", "e", "f", "g"};
    for (int i = 0; i < 7; i++)
        ids[i] = mk_agent(st, i % 2 ? "d2" : "d1", names[i], NULL, i % 3 == 0 ? "paused" : "active");
    /* d1: a(p) c e g(p); d2: b d(p) f */

    /* walk every page of 3: each record once, in id order */
    char *cursor = NULL;
    int seen = 0, pages = 0;
    do {
        ag_agent_t *items;
        size_t n;
        char *next;
        assert_int_equal(st->ops->agent_list(st, NULL, NULL, cursor, 3, &items, &n, &next, &err), 0);
        free(cursor);
        cursor = next;
        pages++;
        for (size_t i = 0; i < n; i++)
            assert_int_equal(items[i].id, ids[seen++]);
        assert_true(n == 3 || next == NULL);
        ag_agents_free(items, n);
    } while (cursor != NULL);
    assert_int_equal(seen, 7);
    assert_int_equal(pages, 3);

    /* an exact multiple: the last full page says there is no next one */
    ag_agent_t *items;
    size_t n;
    char *next;
    assert_int_equal(st->ops->agent_list(st, NULL, NULL, NULL, 7, &items, &n, &next, &err), 0);
    assert_int_equal(n, 7);
    assert_null(next);
    ag_agents_free(items, n);

    /* filters */
    assert_int_equal(st->ops->agent_list(st, "d2", NULL, NULL, 50, &items, &n, &next, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(items[0].name, "b");
    assert_string_equal(items[2].name, "f");
    ag_agents_free(items, n);
    assert_int_equal(st->ops->agent_list(st, NULL, "paused", NULL, 50, &items, &n, &next, &err), 0);
    assert_int_equal(n, 3); /* a d g */
    assert_string_equal(items[1].name, "d");
    ag_agents_free(items, n);
    assert_int_equal(st->ops->agent_list(st, "d1", "active", NULL, 1, &items, &n, &next, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(items[0].name, "c");
    assert_non_null(next);
    ag_agents_free(items, n);
    char *c2 = next;
    assert_int_equal(st->ops->agent_list(st, "d1", "active", c2, 1, &items, &n, &next, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(items[0].name, "e");
    assert_null(next); /* g is paused */
    ag_agents_free(items, n);
    free(c2);
    assert_int_equal(st->ops->agent_list(st, "nope", NULL, NULL, 50, &items, &n, &next, &err), 0);
    assert_int_equal(n, 0);
    assert_null(next);
    ag_agents_free(items, n);

    /* refused: limits out of range, cursors not made by the store */
    assert_int_equal(st->ops->agent_list(st, NULL, NULL, NULL, 0, &items, &n, &next, &err), AG_EINVAL);
    assert_int_equal(st->ops->agent_list(st, NULL, NULL, NULL, AG_AGENT_LIST_MAX + 1, &items, &n, &next, &err),
                     AG_EINVAL);
    const char *bad[] = {"x", "12", "!!!!", "YWdlbnQ6", "Zm9vOjE", "YWdlbnQ6MWE"}; /* "agent:", "foo:1", "agent:1a" */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(st->ops->agent_list(st, NULL, NULL, bad[i], 5, &items, &n, &next, &err), AG_EINVAL);
}

static void test_agent_replace(void **state)
{
    fixture_t *fx = *state;
    ag_store_t *st = fx->st;
    ag_err_t err;
    int64_t id = mk_agent(st, "t", "one", "job", "paused");
    mk_agent(st, "t", "two", NULL, NULL);
    ag_agent_t before;
    assert_int_equal(st->ops->agent_get(st, id, &before, &err), 0);
    sleep_ms(3);

    ag_agent_new_t n = {.name = "uno", .domain = "t", .script = "other", .tools = "[\"x\"]", .status = "active"};
    ag_agent_t a;
    int was_paused = -1;
    assert_int_equal(st->ops->agent_replace(st, id, &n, &a, &was_paused, &err), 0);
    assert_int_equal(was_paused, 1);
    assert_int_equal(a.id, id);
    assert_string_equal(a.name, "uno");
    assert_string_equal(a.script, "other");
    assert_string_equal(a.tools, "[\"x\"]");
    assert_string_equal(a.capabilities, "[]"); /* a replacement: what is not given is reset */
    assert_string_equal(a.status, "active");
    assert_int_equal(a.created_at, before.created_at);
    assert_true(a.updated_at > before.updated_at);
    ag_agent_clear(&a);
    ag_agent_clear(&before);

    assert_int_equal(st->ops->agent_replace(st, id, &n, &a, &was_paused, &err), 0);
    assert_int_equal(was_paused, 0);
    ag_agent_clear(&a);

    /* taking another record's name in the same domain */
    ag_agent_new_t clash = {.name = "two", .domain = "t"};
    assert_int_equal(st->ops->agent_replace(st, id, &clash, &a, NULL, &err), AG_EEXIST);
    assert_int_equal(st->ops->agent_get(st, id, &a, &err), 0);
    assert_string_equal(a.name, "uno"); /* unchanged */
    ag_agent_clear(&a);
    assert_int_equal(st->ops->agent_replace(st, 424242, &clash, &a, NULL, &err), AG_ENOTFOUND);
}

static void test_agent_delete_with_running_tasks_needs_force(void **state)
{
    fixture_t *fx = *state;
    ag_store_t *st = fx->st;
    ag_err_t err;
    int64_t id = mk_agent(st, "t", "worker", "job", NULL);
    int64_t other = mk_agent(st, "t", "idle", "idle", NULL);
    mk_for(st, "t", "job");
    assert_int_equal(claim(st, "w1", 10, 60000, NULL), 1); /* now running */

    assert_int_equal(st->ops->agent_delete(st, id, 0, &err), AG_ESTATE);
    ag_agent_t a;
    assert_int_equal(st->ops->agent_get(st, id, &a, &err), 0); /* still there */
    ag_agent_clear(&a);
    assert_int_equal(st->ops->agent_delete(st, other, 0, &err), 0); /* no running task of its own */
    assert_int_equal(st->ops->agent_delete(st, id, 1, &err), 0);
    assert_int_equal(st->ops->agent_get(st, id, &a, &err), AG_ENOTFOUND);
    assert_int_equal(st->ops->agent_delete(st, id, 1, &err), AG_ENOTFOUND);
    assert_int_equal(st->ops->agent_delete(st, 777777, 0, &err), AG_ENOTFOUND);
}

static void test_agent_stats_counts_and_last_error(void **state)
{
    fixture_t *fx = *state;
    ag_store_t *st = fx->st;
    ag_err_t err;
    int64_t id = mk_agent(st, "t", "worker", "job", NULL);
    ag_agent_stats_t s;
    assert_int_equal(st->ops->agent_stats(st, id, &s, &err), 0);
    assert_int_equal(s.running, 0);
    assert_int_equal(s.succeeded, 0);
    assert_int_equal(s.failed, 0);
    assert_null(s.last_error);
    assert_int_equal(s.last_error_at, 0);

    int64_t t[5];
    for (int i = 0; i < 5; i++)
        t[i] = mk_for(st, "t", "job");
    mk_for(st, "other", "job"); /* same script name, other domain: not this record's */
    mk_for(st, "t", "else");
    assert_int_equal(claim(st, "w1", 10, 60000, NULL), 7);
    apply(st, "w1", t[0], AG_TASK_SUCCEEDED, "{}", NULL, 0);
    apply(st, "w1", t[1], AG_TASK_SUCCEEDED, "{}", NULL, 0);
    apply(st, "w1", t[2], AG_TASK_DEAD, NULL, "boom: first", 0);
    sleep_ms(3);
    apply(st, "w1", t[3], AG_TASK_FAILED, NULL, "boom: second", ag_now_ms() + 600000);
    /* t[4] keeps running */
    assert_int_equal(st->ops->agent_stats(st, id, &s, &err), 0);
    assert_int_equal(s.running, 1);
    assert_int_equal(s.succeeded, 2);
    assert_int_equal(s.failed, 2);
    assert_non_null(s.last_error);
    assert_string_equal(s.last_error, "boom: second");
    assert_true(s.last_error_at > 0);
    ag_agent_stats_clear(&s);

    assert_int_equal(st->ops->agent_stats(st, 31337, &s, &err), AG_ENOTFOUND);
}

static void test_claim_skips_tasks_of_paused_agents(void **state)
{
    fixture_t *fx = *state;
    ag_store_t *st = fx->st;
    ag_err_t err;
    int64_t paused = mk_agent(st, "t", "held", "job", "paused");
    mk_agent(st, "t", "free", "else", "active");
    int64_t held = mk_for(st, "t", "job");
    int64_t other_domain = mk_for(st, "u", "job"); /* a paused record holds back its own domain only */
    int64_t runs = mk_for(st, "t", "else");
    int64_t no_record = mk_for(st, "t", "plain");  /* tasks without any record run as before */

    ag_claim_t *c = NULL;
    size_t n = claim(st, "w1", 10, 60000, &c);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_true(c[i].id != held);
        assert_true(c[i].id == other_domain || c[i].id == runs || c[i].id == no_record);
    }
    ag_claims_free(c, n);
    assert_int_equal(state_of(st, held), AG_TASK_QUEUED);
    /* nothing is due while the only queued task is held: the workers can sleep */
    int64_t due = -1;
    assert_int_equal(st->ops->next_due(st, &due, &err), 0);
    assert_int_equal(due, 0);
    assert_int_equal(claim(st, "w1", 10, 60000, NULL), 0);

    /* set back to active: claimed */
    ag_agent_new_t n2 = {.name = "held", .domain = "t", .script = "job", .status = "active"};
    ag_agent_t a;
    int was_paused = 0;
    assert_int_equal(st->ops->agent_replace(st, paused, &n2, &a, &was_paused, &err), 0);
    assert_int_equal(was_paused, 1);
    ag_agent_clear(&a);
    assert_int_equal(st->ops->next_due(st, &due, &err), 0);
    assert_true(due > 0);
    assert_int_equal(claim(st, "w1", 10, 60000, &c), 1);
    assert_int_equal(c[0].id, held);
    ag_claims_free(c, 1);

    /* a retry due (failed) is held back too; deleting the paused record releases it */
    n2.status = "paused";
    assert_int_equal(st->ops->agent_replace(st, paused, &n2, &a, NULL, &err), 0);
    ag_agent_clear(&a);
    apply(st, "w1", held, AG_TASK_FAILED, NULL, "try again", ag_now_ms() - 1);
    assert_int_equal(claim(st, "w1", 10, 60000, NULL), 0);
    assert_int_equal(state_of(st, held), AG_TASK_FAILED);
    assert_int_equal(st->ops->agent_delete(st, paused, 0, &err), 0);
    assert_int_equal(claim(st, "w1", 10, 60000, NULL), 1);
    assert_int_equal(state_of(st, held), AG_TASK_RUNNING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_twice_applies_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_pending_vs_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_idempotency_key_returns_existing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_unknown_is_enotfound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_execute_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_claims_priority_then_run_at, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_claims_at_most_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_outcome_only_for_lease_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_applies_outcomes_then_claims_in_one_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_renews_and_reports_cancels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_of_other_owner_does_not_renew, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_expired_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_record_every_transition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kv_get_set_del, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_version_put_twice, setup, teardown),
        cmocka_unit_test(test_store_open_url_schemes),
        cmocka_unit_test_setup_teardown(test_list_pages_newest_first_each_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_limit_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_dead_task_requeues_with_attempts_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_failed_task_runs_now, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_other_states_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_create_get_unique_per_domain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_list_filters_and_cursor_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_delete_with_running_tasks_needs_force, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_stats_counts_and_last_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_skips_tasks_of_paused_agents, setup, teardown),
    };
    return cmocka_run_group_tests_name("store_sqlite", tests, NULL, NULL);
}
