/*
 * test_kv.c: the store's domain key-value ops (store.h kv_get/kv_set/kv_incr/kv_del) behind the `memory`
 * global, against a real SQLite file: ttl expiry (small ttls and short sleeps), incr from absent, existing,
 * expired and non-integer values, atomic increments from several processes at once, domain isolation,
 * and the bounded purge of expired rows (store_sqlite_kv.c, migration 0008).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../../engine/store.h"
#include "../../engine/store_sqlite_int.h"

#define TTL_MS 40   /* short enough to keep the suite fast, long enough to read a key before it expires */
#define PAST_TTL 80 /* sleep that outlasts TTL_MS */

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
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ag_kv_XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    snprintf(fx->path, sizeof(fx->path), "%s/test.db", fx->dir);
    ag_err_t err;
    if (ag_store_sqlite_open(&fx->st, fx->path, &err) != 0)
        return -1;
    if (fx->st->ops->migrate(fx->st, NULL, &err) != 0)
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

/* The value of domain/key (a new string), or NULL when get says it is absent. */
static char *get(ag_store_t *st, const char *domain, const char *key)
{
    char *v = NULL;
    ag_err_t err;
    int rc = st->ops->kv_get(st, domain, key, &v, &err);
    if (rc == AG_ENOTFOUND)
        return NULL;
    assert_int_equal(rc, 0);
    assert_non_null(v);
    return v;
}

static void assert_value(ag_store_t *st, const char *domain, const char *key, const char *expect)
{
    char *v = get(st, domain, key);
    if (expect == NULL) {
        if (v != NULL)
            fail_msg("%s/%s: expected absent, got %s", domain, key, v);
        return;
    }
    if (v == NULL)
        fail_msg("%s/%s: expected %s, got absent", domain, key, expect);
    assert_string_equal(v, expect);
    free(v);
}

static void set(ag_store_t *st, const char *domain, const char *key, const char *value, int64_t ttl_ms)
{
    ag_err_t err;
    assert_int_equal(st->ops->kv_set(st, domain, key, value, ttl_ms, &err), 0);
}

static int64_t incr(ag_store_t *st, const char *domain, const char *key, int64_t by, int64_t ttl_ms)
{
    int64_t out = -12345;
    ag_err_t err;
    int rc = st->ops->kv_incr(st, domain, key, by, ttl_ms, &out, &err);
    if (rc != 0)
        fail_msg("incr %s/%s by %lld: %s", domain, key, (long long)by, err.msg);
    return out;
}

/* Rows in kv, expired or not (what get cannot see). */
static int rows(ag_store_t *st)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(ag__sqlite_db(st), "SELECT count(*) FROM kv", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int n = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return n;
}

/* ---- set / get / ttl -------------------------------------------------------------------------------------- */

static void test_set_with_ttl_expires(void **state)
{
    fixture_t *fx = *state;
    set(fx->st, "t", "k", "{\"a\":1}", TTL_MS);
    assert_value(fx->st, "t", "k", "{\"a\":1}");
    sleep_ms(PAST_TTL);
    assert_value(fx->st, "t", "k", NULL); /* expired: invisible, though the row may still be there */
    set(fx->st, "t", "k", "2", 0);       /* a new value after expiry is a fresh key */
    assert_value(fx->st, "t", "k", "2");
}

static void test_set_without_ttl_clears_an_earlier_ttl(void **state)
{
    fixture_t *fx = *state;
    set(fx->st, "t", "k", "1", TTL_MS);
    set(fx->st, "t", "k", "2", 0);
    sleep_ms(PAST_TTL);
    assert_value(fx->st, "t", "k", "2");
}

static void test_set_with_ttl_on_a_permanent_key(void **state)
{
    fixture_t *fx = *state;
    set(fx->st, "t", "k", "1", 0);
    set(fx->st, "t", "k", "2", TTL_MS);
    assert_value(fx->st, "t", "k", "2");
    sleep_ms(PAST_TTL);
    assert_value(fx->st, "t", "k", NULL);
}

static void test_delete(void **state)
{
    fixture_t *fx = *state;
    ag_err_t err;
    set(fx->st, "t", "k", "1", 0);
    assert_int_equal(fx->st->ops->kv_del(fx->st, "t", "k", &err), 0);
    assert_value(fx->st, "t", "k", NULL);
    assert_int_equal(fx->st->ops->kv_del(fx->st, "t", "k", &err), 0); /* deleting the absent is fine */
}

/* ---- incr ------------------------------------------------------------------------------------------------- */

static void test_incr_from_absent(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(incr(fx->st, "t", "n", 1, 0), 1);
    assert_int_equal(incr(fx->st, "t", "n", 5, 0), 6);
    assert_int_equal(incr(fx->st, "t", "n", -10, 0), -4);
    assert_value(fx->st, "t", "n", "-4"); /* stored as JSON text, readable by memory.get */
    assert_int_equal(incr(fx->st, "t", "z", 0, 0), 0);
    assert_value(fx->st, "t", "z", "0");
}

static void test_incr_existing_integer(void **state)
{
    fixture_t *fx = *state;
    set(fx->st, "t", "n", "41", 0);
    assert_int_equal(incr(fx->st, "t", "n", 1, 0), 42);
    set(fx->st, "t", "m", "-7", 0);
    assert_int_equal(incr(fx->st, "t", "m", 7, 0), 0);
}

static void test_incr_expired_counts_from_zero(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(incr(fx->st, "t", "n", 1, TTL_MS), 1);
    assert_int_equal(incr(fx->st, "t", "n", 1, 0), 2); /* the count keeps its expiry */
    sleep_ms(PAST_TTL);
    assert_value(fx->st, "t", "n", NULL);
    assert_int_equal(incr(fx->st, "t", "n", 3, 0), 3); /* from 0 again, and now without expiry */
    sleep_ms(PAST_TTL);
    assert_value(fx->st, "t", "n", "3");
    /* an expired non-integer does not count either: it is absent */
    set(fx->st, "t", "s", "\"text\"", TTL_MS);
    sleep_ms(PAST_TTL);
    assert_int_equal(incr(fx->st, "t", "s", 1, 0), 1);
}

static void test_incr_keeps_the_window_of_an_existing_count(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(incr(fx->st, "t", "w", 1, TTL_MS), 1);
    assert_int_equal(incr(fx->st, "t", "w", 1, 3600 * 1000), 2); /* a later ttl does not extend the window */
    sleep_ms(PAST_TTL);
    assert_value(fx->st, "t", "w", NULL);
    /* and a permanent value keeps no expiry when incr passes one */
    set(fx->st, "t", "p", "10", 0);
    assert_int_equal(incr(fx->st, "t", "p", 1, TTL_MS), 11);
    sleep_ms(PAST_TTL);
    assert_value(fx->st, "t", "p", "11");
}

static void test_incr_non_integer_is_invalid_state(void **state)
{
    fixture_t *fx = *state;
    const char *bad[] = {"\"abc\"", "1.5", "{\"a\":1}", "[1]", "true", "null", "1e3", "\"5\"", "-", "12a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        set(fx->st, "t", "k", bad[i], 0);
        int64_t out = -99;
        ag_err_t err;
        int rc = fx->st->ops->kv_incr(fx->st, "t", "k", 1, 0, &out, &err);
        if (rc != AG_ESTATE)
            fail_msg("incr of %s: rc %d, out %lld", bad[i], rc, (long long)out);
        assert_non_null(strstr(err.msg, "'k' is not an integer"));
        assert_int_equal(out, -99);           /* not written */
        assert_value(fx->st, "t", "k", bad[i]); /* unchanged, and the transaction was rolled back */
    }
    assert_int_equal(incr(fx->st, "t", "other", 1, 0), 1); /* the connection is usable afterwards */
}

static void test_incr_overflow_is_invalid_state(void **state)
{
    fixture_t *fx = *state;
    set(fx->st, "t", "big", "9223372036854775807", 0);
    int64_t out = 0;
    ag_err_t err;
    assert_int_equal(fx->st->ops->kv_incr(fx->st, "t", "big", 1, 0, &out, &err), AG_ESTATE);
    assert_non_null(strstr(err.msg, "64-bit"));
    assert_value(fx->st, "t", "big", "9223372036854775807");
    assert_int_equal(incr(fx->st, "t", "big", -7, 0), INT64_MAX - 7);
    set(fx->st, "t", "huge", "99999999999999999999", 0); /* past int64 as text: not an integer we can count */
    assert_int_equal(fx->st->ops->kv_incr(fx->st, "t", "huge", 1, 0, &out, &err), AG_ESTATE);
}

/* ---- domains ---------------------------------------------------------------------------------------------- */

static void test_domains_isolated(void **state)
{
    fixture_t *fx = *state;
    ag_err_t err;
    set(fx->st, "a", "k", "\"of a\"", 0);
    assert_value(fx->st, "b", "k", NULL);
    assert_int_equal(incr(fx->st, "b", "k", 1, 0), 1); /* b's k is b's own, counted from 0 */
    assert_value(fx->st, "a", "k", "\"of a\"");
    assert_int_equal(fx->st->ops->kv_del(fx->st, "b", "k", &err), 0);
    assert_value(fx->st, "a", "k", "\"of a\"");
    set(fx->st, "b", "k", "1", TTL_MS); /* b's ttl does not touch a */
    sleep_ms(PAST_TTL);
    assert_value(fx->st, "a", "k", "\"of a\"");
    assert_value(fx->st, "b", "k", NULL);
}

/* ---- atomicity -------------------------------------------------------------------------------------------- */

#define PROCS 4
#define PER_PROC 200

/* A child process: its own connection, PER_PROC increments; exits with the number that failed. */
static void incr_child(const char *path)
{
    ag_store_t *st;
    ag_err_t err;
    if (ag_store_sqlite_open(&st, path, &err) != 0)
        _exit(100);
    int failures = 0;
    for (int i = 0; i < PER_PROC; i++) {
        int64_t out;
        if (st->ops->kv_incr(st, "t", "shared", 1, 0, &out, &err) != 0)
            failures++;
    }
    ag_store_close(st);
    _exit(failures > 99 ? 99 : failures);
}

/* Several processes (so the in-process write mutex does not serialize them: only the transaction does). */
static void test_incr_is_atomic_across_processes(void **state)
{
    fixture_t *fx = *state;
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            incr_child(fx->path);
    }
    for (int i = 0; i < PROCS; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    char expect[32];
    snprintf(expect, sizeof(expect), "%d", PROCS * PER_PROC);
    assert_value(fx->st, "t", "shared", expect); /* no lost update */
}

/* ---- purge ------------------------------------------------------------------------------------------------ */

static void test_purge_deletes_expired_rows_in_batches(void **state)
{
    fixture_t *fx = *state;
    char key[16];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "old%d", i);
        set(fx->st, "t", key, "1", 1);
    }
    set(fx->st, "t", "live", "1", 3600 * 1000);
    set(fx->st, "t", "forever", "1", 0);
    sleep_ms(10);
    int64_t now = ag_now_ms();
    int deleted = -1;
    ag_err_t err;
    assert_int_equal(ag__sq_kv_purge(fx->st, now, 3, &deleted, &err), 0);
    assert_int_equal(deleted, 3);
    assert_int_equal(ag__sq_kv_purge(fx->st, now, 3, &deleted, &err), 0);
    assert_int_equal(deleted, 2);
    assert_int_equal(ag__sq_kv_purge(fx->st, now, 3, &deleted, &err), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(rows(fx->st), 2);
    assert_value(fx->st, "t", "live", "1");
    assert_value(fx->st, "t", "forever", "1");
}

static void test_purge_reads_the_partial_index(void **state)
{
    fixture_t *fx = *state;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(ag__sqlite_db(fx->st),
                                        "EXPLAIN QUERY PLAN SELECT domain, key FROM kv WHERE expires_at <= 5 LIMIT 9",
                                        -1, &q, NULL),
                     SQLITE_OK);
    int uses_index = 0;
    while (sqlite3_step(q) == SQLITE_ROW)
        uses_index |= strstr((const char *)sqlite3_column_text(q, 3), "kv_expires") != NULL;
    sqlite3_finalize(q);
    assert_true(uses_index); /* not a scan of every key */
}

static void test_writes_purge_lazily(void **state)
{
    fixture_t *fx = *state;
    set(fx->st, "t", "gone", "1", 1);
    sleep_ms(10);
    /* A purge is due once the clock passes the process's next turn (a minute after the last one). */
    ag__sq_kv_purge_due(fx->st, ag_now_ms() + 3600 * 1000);
    assert_int_equal(rows(fx->st), 0);
    set(fx->st, "t", "gone2", "1", 1);
    sleep_ms(10);
    set(fx->st, "t", "x", "1", 0); /* not due again so soon: the expired row stays until a later purge */
    assert_int_equal(rows(fx->st), 2);
    assert_value(fx->st, "t", "gone2", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_set_with_ttl_expires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_without_ttl_clears_an_earlier_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_with_ttl_on_a_permanent_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incr_from_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incr_existing_integer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incr_expired_counts_from_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incr_keeps_the_window_of_an_existing_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incr_non_integer_is_invalid_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incr_overflow_is_invalid_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domains_isolated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incr_is_atomic_across_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_deletes_expired_rows_in_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_reads_the_partial_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writes_purge_lazily, setup, teardown),
    };
    return cmocka_run_group_tests_name("kv", tests, NULL, NULL);
}
