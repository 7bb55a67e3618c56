/*
 * test_llm_journal.c: the LLM call journal ops of store.h (llm_calls_add, llm_call_find, llm_calls_list,
 * llm_spend) on a real SQLite file.
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

typedef struct fixture_s {
    char dir[64];
    char path[128];
    ag_store_t *st;
} fixture_t;

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ag_llm_journal_XXXXXX");
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

/* Direct SQL, for what no op does (moving a call back in time). */
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

/* A successful call (response given) or a failed one (response NULL: error_code "timeout"). */
static ag_llm_call_t call(int64_t task, int attempt, int seq, const char *hash, const char *response, double cost)
{
    ag_llm_call_t c = {.task_id = task, .attempt = attempt, .seq = seq};
    c.domain = (char *)"d1";
    c.provider = (char *)"mock";
    c.model = (char *)"mock-1";
    snprintf(c.request_hash, sizeof(c.request_hash), "%s", hash);
    c.response = (char *)response;
    c.prompt_tokens = 10;
    c.completion_tokens = 5;
    c.cost = cost;
    c.latency_ms = 7;
    if (response == NULL) {
        c.error_code = (char *)"timeout";
        c.error = (char *)"no answer in 30 s";
    }
    return c;
}

static void add(ag_store_t *s, const ag_llm_call_t *calls, size_t n)
{
    ag_err_t err;
    int rc = s->ops->llm_calls_add(s, calls, n, &err);
    if (rc != 0)
        fail_msg("llm_calls_add: %s", err.msg);
}

/* The response find answers, or NULL for AG_ENOTFOUND (any other result fails the test). */
static char *find(ag_store_t *s, int64_t task, int seq, const char *hash)
{
    char *resp = (char *)"untouched";
    ag_err_t err;
    int rc = s->ops->llm_call_find(s, task, seq, hash, &resp, &err);
    if (rc == AG_ENOTFOUND) {
        assert_null(resp);
        return NULL;
    }
    assert_int_equal(rc, 0);
    assert_non_null(resp);
    return resp;
}

static void assert_find(ag_store_t *s, int64_t task, int seq, const char *hash, const char *want)
{
    char *got = find(s, task, seq, hash);
    if (want == NULL) {
        if (got != NULL)
            fail_msg("expected no journaled response, got %s", got);
        return;
    }
    if (got == NULL)
        fail_msg("expected %s, got none", want);
    assert_string_equal(got, want);
    free(got);
}

static void test_find_answers_the_newest_successful_call(void **state)
{
    fixture_t *fx = *state;
    ag_store_t *s = fx->st;
    ag_llm_call_t first[] = {
        call(1, 1, 1, "aaaaaaaaaaaaaaaa", "{\"text\":\"one\"}", 0.1),
        call(1, 1, 2, "bbbbbbbbbbbbbbbb", NULL, 0),                     /* failed: never an answer */
        call(2, 1, 1, "aaaaaaaaaaaaaaaa", "{\"text\":\"other task\"}", 0.1),
    };
    add(s, first, 3);
    assert_find(s, 1, 1, "aaaaaaaaaaaaaaaa", "{\"text\":\"one\"}");
    assert_find(s, 2, 1, "aaaaaaaaaaaaaaaa", "{\"text\":\"other task\"}");
    /* only failed rows for (1, 2): not found */
    assert_find(s, 1, 2, "bbbbbbbbbbbbbbbb", NULL);
    /* another hash, another seq, another task */
    assert_find(s, 1, 1, "aaaaaaaaaaaaaaab", NULL);
    assert_find(s, 1, 3, "aaaaaaaaaaaaaaaa", NULL);
    assert_find(s, 1, 2, "aaaaaaaaaaaaaaaa", NULL);
    assert_find(s, 3, 1, "aaaaaaaaaaaaaaaa", NULL);

    /* a second attempt answers seq 1 again: the newer response wins; a newer failure changes nothing */
    ag_llm_call_t second[] = {
        call(1, 2, 1, "aaaaaaaaaaaaaaaa", "{\"text\":\"two\"}", 0.1),
        call(1, 2, 2, "bbbbbbbbbbbbbbbb", "{\"text\":\"finally\"}", 0.1),
    };
    add(s, second, 2);
    ag_llm_call_t third[] = {call(1, 3, 1, "aaaaaaaaaaaaaaaa", NULL, 0)};
    add(s, third, 1);
    assert_find(s, 1, 1, "aaaaaaaaaaaaaaaa", "{\"text\":\"two\"}");
    assert_find(s, 1, 2, "bbbbbbbbbbbbbbbb", "{\"text\":\"finally\"}");

    /* a row with an error code is not a success even with a response (e.g. invalid_response) */
    ag_llm_call_t bad = call(1, 3, 3, "cccccccccccccccc", "{\"text\":\"not json\"}", 0);
    bad.error_code = (char *)"invalid_response";
    bad.error = (char *)"the reply is not JSON";
    add(s, &bad, 1);
    assert_find(s, 1, 3, "cccccccccccccccc", NULL);
}

/* The (attempt, seq) of every call of task, in list order, read in pages of page. */
static size_t list_all(ag_store_t *s, int64_t task, int page, int (*out)[2], size_t max, int64_t *ids)
{
    size_t total = 0;
    int64_t after = 0;
    for (;;) {
        ag_llm_call_t *calls = NULL;
        size_t n = 99;
        ag_err_t err;
        assert_int_equal(s->ops->llm_calls_list(s, task, after, page, &calls, &n, &err), 0);
        assert_true(n <= (size_t)page);
        if (n == 0) {
            assert_null(calls);
            return total;
        }
        for (size_t i = 0; i < n; i++) {
            assert_true(total < max);
            assert_int_equal(calls[i].task_id, task);
            out[total][0] = calls[i].attempt;
            out[total][1] = calls[i].seq;
            ids[total++] = calls[i].id;
        }
        after = calls[n - 1].id;
        ag_llm_calls_free(calls, n);
    }
}

static void test_list_order_and_cursor(void **state)
{
    fixture_t *fx = *state;
    ag_store_t *s = fx->st;
    /* journaled out of order (a batch in any order, a late row of an old attempt) */
    ag_llm_call_t calls[] = {
        call(5, 1, 2, "0000000000000002", "{}", 0), call(5, 1, 1, "0000000000000001", "{}", 0),
        call(6, 1, 1, "0000000000000001", "{}", 0), call(5, 2, 1, "0000000000000001", NULL, 0),
        call(5, 1, 3, "0000000000000003", "{}", 0), call(5, 2, 1, "0000000000000001", "{}", 0),
        call(5, 2, 2, "0000000000000002", "{}", 0),
    };
    add(s, calls, sizeof(calls) / sizeof(calls[0]));
    int want[][2] = {{1, 1}, {1, 2}, {1, 3}, {2, 1}, {2, 1}, {2, 2}};
    for (int page = 1; page <= 7; page++) {
        int got[16][2];
        int64_t ids[16];
        size_t n = list_all(s, 5, page, got, 16, ids);
        assert_int_equal(n, 6);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(got[i][0], want[i][0]);
            assert_int_equal(got[i][1], want[i][1]);
        }
        /* equal (attempt, seq): id order (the failed call first) */
        assert_true(ids[3] < ids[4]);
    }
    int got[4][2];
    int64_t ids[4];
    assert_int_equal(list_all(s, 6, 50, got, 4, ids), 1);
    assert_int_equal(list_all(s, 7, 50, got, 4, ids), 0);

    /* a cursor from another task, an unknown id, a bad limit */
    ag_llm_call_t *out = NULL;
    size_t n = 0;
    ag_err_t err;
    assert_int_equal(s->ops->llm_calls_list(s, 5, ids[0], 10, &out, &n, &err), AG_EINVAL);
    assert_int_equal(s->ops->llm_calls_list(s, 5, 999999, 10, &out, &n, &err), AG_EINVAL);
    assert_int_equal(s->ops->llm_calls_list(s, 5, 0, 0, &out, &n, &err), AG_EINVAL);
    assert_int_equal(s->ops->llm_calls_list(s, 5, -1, 10, &out, &n, &err), AG_EINVAL);
    assert_null(out);
    assert_int_equal(n, 0);
}

static void test_spend_by_task_and_by_domain(void **state)
{
    fixture_t *fx = *state;
    ag_store_t *s = fx->st;
    ag_llm_call_t calls[] = {
        call(1, 1, 1, "0000000000000001", "{}", 0.25), call(1, 2, 1, "0000000000000001", "{}", 0.5),
        call(1, 2, 2, "0000000000000002", NULL, 0.125), /* a failed call can cost too (tokens were spent) */
        call(2, 1, 1, "0000000000000001", "{}", 1.0),   call(3, 1, 1, "0000000000000001", "{}", 2.0),
    };
    calls[4].domain = (char *)"d2";
    add(s, calls, 5);
    /* ids 1..5 in insertion order; make the calls of task 1 old */
    exec_sql(fx, "UPDATE llm_calls SET created_at = 1000 WHERE id IN (1, 2, 3)");
    double v = -1;
    ag_err_t err;
    assert_int_equal(s->ops->llm_spend(s, 1, NULL, 0, &v, &err), 0);
    assert_true(v == 0.875);
    assert_int_equal(s->ops->llm_spend(s, 2, "ignored", 0, &v, &err), 0);
    assert_true(v == 1.0);
    assert_int_equal(s->ops->llm_spend(s, 99, NULL, 0, &v, &err), 0);
    assert_true(v == 0);
    /* domain d1: tasks 1 and 2; since is inclusive */
    assert_int_equal(s->ops->llm_spend(s, 0, "d1", 0, &v, &err), 0);
    assert_true(v == 1.875);
    assert_int_equal(s->ops->llm_spend(s, 0, "d1", 1000, &v, &err), 0);
    assert_true(v == 1.875);
    assert_int_equal(s->ops->llm_spend(s, 0, "d1", 1001, &v, &err), 0);
    assert_true(v == 1.0);
    assert_int_equal(s->ops->llm_spend(s, 0, "d2", 1001, &v, &err), 0);
    assert_true(v == 2.0);
    assert_int_equal(s->ops->llm_spend(s, 0, "d3", 0, &v, &err), 0);
    assert_true(v == 0);
    assert_int_equal(s->ops->llm_spend(s, 0, NULL, 0, &v, &err), AG_EINVAL);
}

static void test_strings_round_trip(void **state)
{
    fixture_t *fx = *state;
    ag_store_t *s = fx->st;
    int64_t before = ag_now_ms();
    ag_llm_call_t in[2];
    in[0] = call(9, 3, 4, "0123456789abcdef", "{\"text\":\"h\\u00e9 \\\"quoted\\\"\",\"n\":1}", 0.000123456789);
    in[0].domain = (char *)"dom-é";
    in[0].provider = (char *)"anthropic";
    in[0].model = (char *)"claude-x \"v\"";
    in[0].prompt_tokens = 5000000000LL;
    in[0].completion_tokens = 123;
    in[0].latency_ms = 1234;
    in[0].id = 777;         /* ignored */
    in[0].created_at = 42;  /* ignored */
    in[1] = call(9, 3, 5, "fedcba9876543210", NULL, 0);
    in[1].error_code = (char *)"rate_limited";
    in[1].error = (char *)"429 from the provider; retry after 2 s";
    add(s, in, 2);
    ag_llm_call_t *out = NULL;
    size_t n = 0;
    ag_err_t err;
    assert_int_equal(s->ops->llm_calls_list(s, 9, 0, 10, &out, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_true(out[0].id > 0 && out[0].id != 777);
    assert_int_equal(out[0].task_id, 9);
    assert_int_equal(out[0].attempt, 3);
    assert_int_equal(out[0].seq, 4);
    assert_string_equal(out[0].domain, "dom-é");
    assert_string_equal(out[0].provider, "anthropic");
    assert_string_equal(out[0].model, "claude-x \"v\"");
    assert_string_equal(out[0].request_hash, "0123456789abcdef");
    assert_string_equal(out[0].response, "{\"text\":\"h\\u00e9 \\\"quoted\\\"\",\"n\":1}");
    assert_int_equal(out[0].prompt_tokens, 5000000000LL);
    assert_int_equal(out[0].completion_tokens, 123);
    assert_true(out[0].cost == 0.000123456789);
    assert_int_equal(out[0].latency_ms, 1234);
    assert_null(out[0].error_code);
    assert_null(out[0].error);
    assert_true(out[0].created_at >= before && out[0].created_at <= ag_now_ms());

    assert_null(out[1].response);
    assert_string_equal(out[1].request_hash, "fedcba9876543210");
    assert_string_equal(out[1].error_code, "rate_limited");
    assert_string_equal(out[1].error, "429 from the provider; retry after 2 s");
    assert_int_equal(out[1].created_at, out[0].created_at);
    ag_llm_calls_free(out, n);
    ag_llm_calls_free(NULL, 0);
}

static void test_required_fields_and_empty_batches(void **state)
{
    fixture_t *fx = *state;
    ag_store_t *s = fx->st;
    ag_err_t err;
    ag_llm_call_t calls[] = {call(1, 1, 1, "0000000000000001", "{}", 0), call(1, 1, 2, "0000000000000002", "{}", 0)};
    calls[1].provider = NULL;
    assert_int_equal(s->ops->llm_calls_add(s, calls, 2, &err), AG_EINVAL);
    calls[1].provider = (char *)"mock";
    calls[1].request_hash[0] = '\0';
    assert_int_equal(s->ops->llm_calls_add(s, calls, 2, &err), AG_EINVAL);
    /* nothing of a refused batch is written */
    assert_int_equal(count_sql(fx, "SELECT count(*) FROM llm_calls"), 0);
    assert_int_equal(s->ops->llm_calls_add(s, calls, 0, &err), 0);
    assert_int_equal(count_sql(fx, "SELECT count(*) FROM llm_calls"), 0);
}

static void test_a_batch_of_1000_in_one_call(void **state)
{
    fixture_t *fx = *state;
    ag_store_t *s = fx->st;
    enum { N = 1000 };
    ag_llm_call_t *calls = calloc(N, sizeof(*calls));
    char (*resp)[32] = calloc(N, 32);
    for (int i = 0; i < N; i++) {
        char hash[17];
        snprintf(hash, sizeof(hash), "%016x", i);
        snprintf(resp[i], 32, "{\"i\":%d}", i);
        calls[i] = call(100 + i % 10, 1, i / 10 + 1, hash, resp[i], 0.001);
    }
    int64_t t0 = ag_now_ms();
    add(s, calls, N);
    int64_t took = ag_now_ms() - t0;
    print_message("1000 journal rows in one call: %lld ms\n", (long long)took);
    assert_int_equal(count_sql(fx, "SELECT count(*) FROM llm_calls"), N);
    /* one transaction: one timestamp for all */
    assert_int_equal(count_sql(fx, "SELECT count(DISTINCT created_at) FROM llm_calls"), 1);
    for (int i = 0; i < N; i += 97) {
        char hash[17];
        snprintf(hash, sizeof(hash), "%016x", i);
        assert_find(s, 100 + i % 10, i / 10 + 1, hash, resp[i]);
    }
    ag_llm_call_t *out = NULL;
    size_t n = 0;
    ag_err_t err;
    assert_int_equal(s->ops->llm_calls_list(s, 103, 0, 5000, &out, &n, &err), 0);
    assert_int_equal(n, N / 10);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i].seq, (int)i + 1);
    ag_llm_calls_free(out, n);
    double v = 0;
    assert_int_equal(s->ops->llm_spend(s, 0, "d1", 0, &v, &err), 0);
    assert_true(v > 0.999 && v < 1.001);
    free(calls);
    free(resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_find_answers_the_newest_successful_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_order_and_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spend_by_task_and_by_domain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strings_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_required_fields_and_empty_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_batch_of_1000_in_one_call, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
