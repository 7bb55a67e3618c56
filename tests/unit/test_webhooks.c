/*
 * test_webhooks.c: webhook signatures (engine/webhooks.h) and the store ops behind webhooks
 * (subscriptions, enqueue/claim/record of deliveries, ending a waiting task), on a real SQLite file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../../engine/store.h"
#include "../../engine/webhooks.h"

/* ---- signatures ---------------------------------------------------------------------------------------------- */

/* python3: hmac.new(b'secret-0123456789', b'1700000000.{"a":1}', hashlib.sha256).hexdigest() */
#define KNOWN_HEX "692511b180bbcd561410894fd2bedac27a99690e45169490ea808f433b5d0097"

static void test_sign_matches_a_known_vector(void **state)
{
    (void)state;
    char sig[AG_WEBHOOK_SIG_LEN];
    ag_webhook_sign("secret-0123456789", 1700000000, "{\"a\":1}", 7, sig);
    assert_string_equal(sig, "v1=" KNOWN_HEX);
}

static int verify(const char *ts, const char *sig, const char *body, int64_t now)
{
    return ag_webhook_verify("secret-0123456789", ts, ts ? strlen(ts) : 0, sig, sig ? strlen(sig) : 0, body,
                             strlen(body), now);
}

static void test_verify_accepts_within_the_window(void **state)
{
    (void)state;
    const char *body = "{\"a\":1}";
    assert_int_equal(verify("1700000000", "v1=" KNOWN_HEX, body, 1700000000), AG_WEBHOOK_OK);
    assert_int_equal(verify("1700000000", "v1=" KNOWN_HEX, body, 1700000000 + 300), AG_WEBHOOK_OK);
    assert_int_equal(verify("1700000000", "v1=" KNOWN_HEX, body, 1700000000 - 300), AG_WEBHOOK_OK);
    /* hex digits in upper case are the same signature */
    char upper[AG_WEBHOOK_SIG_LEN] = "v1=";
    for (int i = 0; i < 64; i++)
        upper[3 + i] = (char)(KNOWN_HEX[i] >= 'a' ? KNOWN_HEX[i] - 32 : KNOWN_HEX[i]);
    upper[67] = '\0';
    assert_int_equal(verify("1700000000", upper, body, 1700000000), AG_WEBHOOK_OK);
}

static void test_verify_refuses_stale_and_wrong(void **state)
{
    (void)state;
    const char *body = "{\"a\":1}";
    assert_int_equal(verify("1700000000", "v1=" KNOWN_HEX, body, 1700000000 + 301), AG_WEBHOOK_STALE);
    assert_int_equal(verify("1700000000", "v1=" KNOWN_HEX, body, 1700000000 - 301), AG_WEBHOOK_STALE);
    assert_int_equal(verify("17000x0000", "v1=" KNOWN_HEX, body, 1700000000), AG_WEBHOOK_STALE);
    assert_int_equal(verify("", "v1=" KNOWN_HEX, body, 1700000000), AG_WEBHOOK_STALE);
    assert_int_equal(verify(NULL, "v1=" KNOWN_HEX, body, 1700000000), AG_WEBHOOK_STALE);
    /* the timestamp is signed: another one in the window does not verify */
    assert_int_equal(verify("1700000001", "v1=" KNOWN_HEX, body, 1700000000), AG_WEBHOOK_BAD_SIGNATURE);
    /* so is the body */
    assert_int_equal(verify("1700000000", "v1=" KNOWN_HEX, "{\"a\":2}", 1700000000), AG_WEBHOOK_BAD_SIGNATURE);
    assert_int_equal(verify("1700000000", "v2=" KNOWN_HEX, body, 1700000000), AG_WEBHOOK_BAD_SIGNATURE);
    assert_int_equal(verify("1700000000", KNOWN_HEX, body, 1700000000), AG_WEBHOOK_BAD_SIGNATURE);
    assert_int_equal(verify("1700000000", "v1=" KNOWN_HEX "00", body, 1700000000), AG_WEBHOOK_BAD_SIGNATURE);
    assert_int_equal(verify("1700000000", NULL, body, 1700000000), AG_WEBHOOK_BAD_SIGNATURE);
    char flipped[] = "v1=" KNOWN_HEX;
    flipped[10] = flipped[10] == '0' ? '1' : '0';
    assert_int_equal(verify("1700000000", flipped, body, 1700000000), AG_WEBHOOK_BAD_SIGNATURE);
    /* another secret */
    char sig[AG_WEBHOOK_SIG_LEN];
    ag_webhook_sign("another-secret-0000", 1700000000, body, strlen(body), sig);
    assert_int_equal(verify("1700000000", sig, body, 1700000000), AG_WEBHOOK_BAD_SIGNATURE);
}

/* ---- store ops ----------------------------------------------------------------------------------------------- */

typedef struct fixture_s {
    char dir[64];
    char path[128];
    ag_store_t *st;
} fixture_t;

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ag_webhooks_XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    snprintf(fx->path, sizeof(fx->path), "%s/test.db", fx->dir);
    ag_err_t err;
    if (ag_store_sqlite_open(&fx->st, fx->path, &err) != 0)
        return -1;
    int applied = -1;
    if (fx->st->ops->migrate(fx->st, &applied, &err) != 0)
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

static int64_t new_sub(ag_store_t *s, const char *url, const char *events, int active)
{
    ag_webhook_sub_new_t n = {url, events, "secret-0123456789abc", active};
    ag_webhook_sub_t w;
    ag_err_t err;
    assert_int_equal(s->ops->webhook_sub_create(s, &n, &w, &err), 0);
    int64_t id = w.id;
    ag_webhook_sub_clear(&w);
    return id;
}

static int64_t add_event(ag_store_t *s, const char *type)
{
    int64_t id = 0;
    ag_err_t err;
    assert_int_equal(s->ops->event_add(s, type, NULL, "{}", &id, &err), 0);
    return id;
}

/* Direct SQL, for what no op does (making deliveries due at once). */
static void exec_sql(fixture_t *fx, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static int64_t count_sql(fixture_t *fx, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void test_subscription_crud(void **state)
{
    fixture_t *fx = *state;
    ag_store_t *s = fx->st;
    ag_err_t err;
    int64_t a = new_sub(s, "http://127.0.0.1:1/a", "[\"task.*\"]", 1);
    int64_t b = new_sub(s, "http://127.0.0.1:1/b", "[\"*\"]", 0);
    int64_t c = new_sub(s, "http://127.0.0.1:1/c", "[\"agent.created\"]", 1);
    ag_webhook_sub_t w;
    assert_int_equal(s->ops->webhook_sub_get(s, b, &w, &err), 0);
    assert_string_equal(w.url, "http://127.0.0.1:1/b");
    assert_string_equal(w.events, "[\"*\"]");
    assert_string_equal(w.secret, "secret-0123456789abc");
    assert_int_equal(w.active, 0);
    assert_true(w.created_at > 0 && w.updated_at == w.created_at);
    ag_webhook_sub_clear(&w);
    /* pages of 2 in id order */
    ag_webhook_sub_t *items;
    size_t n;
    int64_t next;
    assert_int_equal(s->ops->webhook_sub_list(s, 0, 2, &items, &n, &next, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(items[0].id, a);
    assert_int_equal(items[1].id, b);
    assert_int_equal(next, b);
    ag_webhook_subs_free(items, n);
    assert_int_equal(s->ops->webhook_sub_list(s, next, 2, &items, &n, &next, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(items[0].id, c);
    assert_int_equal(next, 0);
    ag_webhook_subs_free(items, n);
    assert_int_equal(s->ops->webhook_sub_list(s, 0, 0, &items, &n, &next, &err), AG_EINVAL);
    /* replace without a secret keeps it */
    ag_webhook_sub_new_t r = {"https://example.invalid/x", "[\"task.dead\"]", NULL, 1};
    assert_int_equal(s->ops->webhook_sub_replace(s, b, &r, &w, &err), 0);
    assert_string_equal(w.url, "https://example.invalid/x");
    assert_string_equal(w.secret, "secret-0123456789abc");
    assert_int_equal(w.active, 1);
    ag_webhook_sub_clear(&w);
    r.secret = "another-secret-9876543210";
    assert_int_equal(s->ops->webhook_sub_replace(s, b, &r, &w, &err), 0);
    assert_string_equal(w.secret, "another-secret-9876543210");
    ag_webhook_sub_clear(&w);
    assert_int_equal(s->ops->webhook_sub_replace(s, 9999, &r, &w, &err), AG_ENOTFOUND);
    /* delete */
    assert_int_equal(s->ops->webhook_sub_delete(s, b, &err), 0);
    assert_int_equal(s->ops->webhook_sub_delete(s, b, &err), AG_ENOTFOUND);
    assert_int_equal(s->ops->webhook_sub_get(s, b, &w, &err), AG_ENOTFOUND);
}

static void test_enqueue_claim_record_retry_and_dead(void **state)
{
    fixture_t *fx = *state;
    ag_store_t *s = fx->st;
    ag_err_t err;
    add_event(s, "agent.created"); /* before any subscription: never delivered */
    int64_t sub = new_sub(s, "http://127.0.0.1:1/a", "[\"agent.*\",\"script.reloaded\"]", 1);
    int64_t off = new_sub(s, "http://127.0.0.1:1/off", "[\"*\"]", 0);
    int64_t e1 = add_event(s, "agent.updated");
    add_event(s, "task.queued"); /* no match */
    int64_t e3 = add_event(s, "script.reloaded");
    size_t added = 99;
    assert_int_equal(s->ops->webhook_enqueue(s, 100, &added, &err), 0);
    assert_int_equal(added, 2);
    /* the cursors moved: a second scan adds nothing */
    assert_int_equal(s->ops->webhook_enqueue(s, 100, &added, &err), 0);
    assert_int_equal(added, 0);

    ag_webhook_job_t *jobs;
    size_t n;
    assert_int_equal(s->ops->webhook_claim(s, 10, 60000, &jobs, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(jobs[0].subscription_id, sub);
    assert_int_equal(jobs[0].event.id, e1);
    assert_string_equal(jobs[0].event.type, "agent.updated");
    assert_string_equal(jobs[0].event.data, "{}");
    assert_int_equal(jobs[0].attempt, 1);
    assert_string_equal(jobs[0].url, "http://127.0.0.1:1/a");
    assert_string_equal(jobs[0].secret, "secret-0123456789abc");
    assert_int_equal(jobs[1].event.id, e3);
    int64_t d1 = jobs[0].delivery_id, d3 = jobs[1].delivery_id;
    for (size_t i = 0; i < n; i++)
        ag_webhook_job_clear(&jobs[i]);
    free(jobs);
    /* leased: not claimed again until the lease runs out */
    assert_int_equal(s->ops->webhook_claim(s, 10, 60000, &jobs, &n, &err), 0);
    assert_int_equal(n, 0);

    /* d3 is delivered; d1 fails and gets a second attempt */
    ag_webhook_result_t ok = {.delivery_id = d3, .ok = 1, .http_status = 204};
    assert_int_equal(s->ops->webhook_record(s, &ok, &err), 0);
    ag_webhook_result_t fail = {.delivery_id = d1, .http_status = 500, .error = "HTTP 500", .retry_at = 1};
    assert_int_equal(s->ops->webhook_record(s, &fail, &err), 0);
    /* recording the same attempt twice changes nothing */
    assert_int_equal(s->ops->webhook_record(s, &fail, &err), 0);
    assert_int_equal(s->ops->webhook_claim(s, 10, 60000, &jobs, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(jobs[0].event.id, e1);
    assert_int_equal(jobs[0].attempt, 2);
    int64_t d1b = jobs[0].delivery_id;
    ag_webhook_job_clear(&jobs[0]);
    free(jobs);
    /* the last attempt fails for good */
    ag_webhook_result_t dead = {.delivery_id = d1b, .error = "connection refused", .retry_at = 0};
    assert_int_equal(s->ops->webhook_record(s, &dead, &err), 0);
    assert_int_equal(s->ops->webhook_claim(s, 10, 60000, &jobs, &n, &err), 0);
    assert_int_equal(n, 0);

    ag_webhook_delivery_t *log;
    int64_t next;
    assert_int_equal(s->ops->webhook_deliveries(s, sub, 0, 50, &log, &n, &next, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(next, 0);
    assert_int_equal(log[0].id, d1);
    assert_string_equal(log[0].status, "failed");
    assert_int_equal(log[0].http_status, 500);
    assert_string_equal(log[0].error, "HTTP 500");
    assert_true(log[0].delivered_at > 0);
    assert_string_equal(log[1].status, "delivered");
    assert_int_equal(log[1].http_status, 204);
    assert_null(log[1].error);
    assert_int_equal(log[2].attempt, 2);
    assert_string_equal(log[2].status, "dead");
    assert_int_equal(log[2].http_status, 0);
    assert_string_equal(log[2].error, "connection refused");
    ag_webhook_deliveries_free(log, n);
    /* pages */
    assert_int_equal(s->ops->webhook_deliveries(s, sub, 0, 2, &log, &n, &next, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(next, log[1].id);
    ag_webhook_deliveries_free(log, n);
    /* the inactive subscription got nothing, and an unknown one is not found */
    assert_int_equal(s->ops->webhook_deliveries(s, off, 0, 50, &log, &n, &next, &err), 0);
    assert_int_equal(n, 0);
    ag_webhook_deliveries_free(log, n);
    assert_int_equal(s->ops->webhook_deliveries(s, 9999, 0, 50, &log, &n, &next, &err), AG_ENOTFOUND);
    /* deleting the subscription deletes its log */
    assert_int_equal(s->ops->webhook_sub_delete(s, sub, &err), 0);
    assert_int_equal(count_sql(fx, "SELECT count(*) FROM webhook_deliveries WHERE subscription_id = 1"), 0);
    assert_int_equal(count_sql(fx, "SELECT count(*) FROM webhook_deliveries"), 0);
}

static void test_a_lease_that_runs_out_is_claimed_again_and_release_makes_due(void **state)
{
    fixture_t *fx = *state;
    ag_store_t *s = fx->st;
    ag_err_t err;
    new_sub(s, "http://127.0.0.1:1/a", "[\"x.*\"]", 1);
    add_event(s, "x.y");
    size_t added;
    assert_int_equal(s->ops->webhook_enqueue(s, 100, &added, &err), 0);
    assert_int_equal(added, 1);
    ag_webhook_job_t *jobs;
    size_t n;
    assert_int_equal(s->ops->webhook_claim(s, 10, 60000, &jobs, &n, &err), 0);
    assert_int_equal(n, 1);
    int64_t d = jobs[0].delivery_id;
    ag_webhook_job_clear(&jobs[0]);
    free(jobs);
    /* a crash before the result was recorded: once the lease has run out it is sent again */
    exec_sql(fx, "UPDATE webhook_deliveries SET next_attempt_at = 0");
    assert_int_equal(s->ops->webhook_claim(s, 10, 60000, &jobs, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(jobs[0].delivery_id, d);
    assert_int_equal(jobs[0].attempt, 1);
    ag_webhook_job_clear(&jobs[0]);
    free(jobs);
    ag_webhook_result_t rel = {.delivery_id = d, .release = 1};
    assert_int_equal(s->ops->webhook_record(s, &rel, &err), 0);
    assert_int_equal(s->ops->webhook_claim(s, 10, 60000, &jobs, &n, &err), 0);
    assert_int_equal(n, 1);
    ag_webhook_job_clear(&jobs[0]);
    free(jobs);
}

static int64_t waiting_task(fixture_t *fx, int max_attempts, int attempts)
{
    ag_task_new_t n = {.type = "t.x", .domain = "t", .agent = "x", .input = "{}", .max_attempts = max_attempts};
    ag_task_t t;
    int existed;
    ag_err_t err;
    assert_int_equal(fx->st->ops->task_create(fx->st, &n, &t, &existed, &err), 0);
    int64_t id = t.id;
    ag_task_clear(&t);
    char sql[160];
    snprintf(sql, sizeof(sql), "UPDATE tasks SET state = 'waiting', attempts = %d WHERE id = %lld", attempts,
             (long long)id);
    exec_sql(fx, sql);
    return id;
}

static void test_finish_waiting(void **state)
{
    fixture_t *fx = *state;
    ag_store_t *s = fx->st;
    ag_err_t err;
    ag_task_t t;
    int64_t a = waiting_task(fx, 3, 1);
    assert_int_equal(s->ops->task_finish_waiting(s, a, 1, "{\"ok\":true}", NULL, 0, &t, &err), 0);
    assert_int_equal(t.state, AG_TASK_SUCCEEDED);
    assert_string_equal(t.result, "{\"ok\":true}");
    assert_true(t.finished_at > 0);
    ag_task_clear(&t);
    /* not waiting any more */
    assert_int_equal(s->ops->task_finish_waiting(s, a, 0, NULL, "late", 0, &t, &err), AG_ESTATE);
    assert_int_equal(t.state, AG_TASK_SUCCEEDED);
    ag_task_clear(&t);
    assert_int_equal(s->ops->task_finish_waiting(s, 424242, 1, "{}", NULL, 0, &t, &err), AG_ENOTFOUND);
    /* failed with attempts left: failed, due at retry_at */
    int64_t b = waiting_task(fx, 3, 1);
    assert_int_equal(s->ops->task_finish_waiting(s, b, 0, NULL, "vendor said no", 123456, &t, &err), 0);
    assert_int_equal(t.state, AG_TASK_FAILED);
    assert_string_equal(t.error, "vendor said no");
    assert_int_equal(t.run_at, 123456);
    assert_int_equal(t.finished_at, 0);
    ag_task_clear(&t);
    /* failed on the last attempt: dead */
    int64_t c = waiting_task(fx, 2, 2);
    assert_int_equal(s->ops->task_finish_waiting(s, c, 0, NULL, "gone", 1, &t, &err), 0);
    assert_int_equal(t.state, AG_TASK_DEAD);
    assert_true(t.finished_at > 0);
    ag_task_clear(&t);
    /* each is a recorded transition */
    ag_task_event_t *ev;
    size_t n;
    assert_int_equal(s->ops->task_events(s, c, &ev, &n, &err), 0);
    assert_string_equal(ev[n - 1].from, "waiting");
    assert_string_equal(ev[n - 1].to, "dead");
    assert_string_equal(ev[n - 1].detail, "gone");
    ag_task_events_free(ev, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_matches_a_known_vector),
        cmocka_unit_test(test_verify_accepts_within_the_window),
        cmocka_unit_test(test_verify_refuses_stale_and_wrong),
        cmocka_unit_test_setup_teardown(test_subscription_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enqueue_claim_record_retry_and_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_lease_that_runs_out_is_claimed_again_and_release_makes_due, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_finish_waiting, setup, teardown),
    };
    return cmocka_run_group_tests_name("webhooks", tests, NULL, NULL);
}
