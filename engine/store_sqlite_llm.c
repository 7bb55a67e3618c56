/*
 * store_sqlite_llm.c: the SQLite backend's ops for the LLM call journal (table llm_calls, migration
 * 0007). See store.h for the contracts.
 *
 * Appends take the backend's process-wide write mutex and run in one BEGIN IMMEDIATE transaction per
 * batch, with one INSERT statement reused for every row. Reads (the replay lookup, the list, spend) run
 * without the mutex, each as one statement. Statements are prepared once per connection
 * (ag__sqlite_stmt, slots AG_SQ_SLOT_LLM + 0..5): a prepare costs more than running them.
 *
 * List order: a task's calls come in (attempt, seq, id) order, which is the order its script made them.
 * The page cursor is the id of the last call of the previous page; the next page starts after that
 * call's (attempt, seq, id), so the order does not depend on ids growing in time.
 */
#include <string.h>

#include "store_sqlite_int.h"

#define CALL_COLS                                                                                                     \
    "id, task_id, attempt, seq, domain, provider, model, request_hash, response, prompt_tokens, "                     \
    "completion_tokens, cost, latency_ms, error_code, error, created_at"

/* The statement of slot k (cached per connection), reset. */
#define prep(k, sql) ag__sqlite_stmt(s, AG_SQ_SLOT_LLM + (k), sql)

static void read_call(sqlite3_stmt *st, ag_llm_call_t *c)
{
    c->id = sqlite3_column_int64(st, 0);
    c->task_id = sqlite3_column_int64(st, 1);
    c->attempt = sqlite3_column_int(st, 2);
    c->seq = sqlite3_column_int(st, 3);
    c->domain = sq_col_str(st, 4);
    c->provider = sq_col_str(st, 5);
    c->model = sq_col_str(st, 6);
    const unsigned char *h = sqlite3_column_text(st, 7);
    snprintf(c->request_hash, sizeof(c->request_hash), "%s", h ? (const char *)h : "");
    c->response = sq_col_str(st, 8);
    c->prompt_tokens = sqlite3_column_int64(st, 9);
    c->completion_tokens = sqlite3_column_int64(st, 10);
    c->cost = sqlite3_column_double(st, 11);
    c->latency_ms = sqlite3_column_int64(st, 12);
    c->error_code = sq_col_str(st, 13);
    c->error = sq_col_str(st, 14);
    c->created_at = sqlite3_column_int64(st, 15);
}

int ag__sq_llm_calls_add(ag_store_t *s, const ag_llm_call_t *calls, size_t n, ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    for (size_t i = 0; i < n; i++) {
        const ag_llm_call_t *c = &calls[i];
        if (c->domain == NULL || c->provider == NULL || c->model == NULL || c->request_hash[0] == '\0')
            return ag_err_set(err, AG_EINVAL, "llm call %zu: domain, provider, model and request_hash are required",
                              i);
    }
    if (n == 0)
        return 0;
    ag__sqlite_write_lock();
    int rc = sq_exec(db, "BEGIN IMMEDIATE", err);
    if (rc != 0) {
        ag__sqlite_write_unlock();
        return rc;
    }
    sqlite3_stmt *st = prep(0, "INSERT INTO llm_calls (task_id, attempt, seq, domain, provider, model, request_hash, "
                                "response, prompt_tokens, completion_tokens, cost, latency_ms, error_code, error, "
                                "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)");
    if (st == NULL) {
        rc = sq_db_error(db, err, "prepare llm call insert");
        goto done;
    }
    int64_t now = ag_now_ms();
    for (size_t i = 0; i < n && rc == 0; i++) {
        const ag_llm_call_t *c = &calls[i];
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, c->task_id);
        sqlite3_bind_int(st, 2, c->attempt);
        sqlite3_bind_int(st, 3, c->seq);
        sq_bind_text(st, 4, c->domain);
        sq_bind_text(st, 5, c->provider);
        sq_bind_text(st, 6, c->model);
        sqlite3_bind_text(st, 7, c->request_hash, (int)strnlen(c->request_hash, sizeof(c->request_hash) - 1),
                          SQLITE_STATIC);
        sq_bind_text(st, 8, c->response);
        sqlite3_bind_int64(st, 9, c->prompt_tokens);
        sqlite3_bind_int64(st, 10, c->completion_tokens);
        sqlite3_bind_double(st, 11, c->cost);
        sqlite3_bind_int64(st, 12, c->latency_ms);
        sq_bind_text(st, 13, c->error_code);
        sq_bind_text(st, 14, c->error);
        sqlite3_bind_int64(st, 15, now);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = sq_db_error(db, err, "llm call insert");
    }
done:
    sqlite3_reset(st);
    if (rc == 0)
        rc = sq_exec(db, "COMMIT", err);
    if (rc != 0)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    ag__sqlite_write_unlock();
    return rc;
}

int ag__sq_llm_call_find(ag_store_t *s, int64_t task_id, int seq, const char *request_hash, char **response,
                         ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    *response = NULL;
    sqlite3_stmt *st = prep(1, "SELECT response FROM llm_calls WHERE task_id = ?1 AND seq = ?2 AND request_hash = ?3 "
                                "AND response IS NOT NULL AND error_code IS NULL ORDER BY id DESC LIMIT 1");
    if (st == NULL)
        return sq_db_error(db, err, "prepare llm call find");
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int(st, 2, seq);
    sq_bind_text(st, 3, request_hash ? request_hash : "");
    int rc = 0, step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *response = sq_col_str(st, 0);
    else if (step == SQLITE_DONE)
        rc = ag_err_set(err, AG_ENOTFOUND, "no journaled call %d of task %lld with that request", seq,
                        (long long)task_id);
    else
        rc = sq_db_error(db, err, "llm call find");
    sqlite3_reset(st);
    return rc;
}

int ag__sq_llm_calls_list(ag_store_t *s, int64_t task_id, int64_t after_id, int limit, ag_llm_call_t **out,
                          size_t *n, ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    *out = NULL;
    *n = 0;
    if (limit < 1 || after_id < 0)
        return ag_err_set(err, AG_EINVAL, "limit: must be at least 1");
    /* Where the page starts: just after (attempt, seq, id) of the cursor's call, else before everything. */
    int64_t from_attempt = INT64_MIN, from_seq = INT64_MIN, from_id = INT64_MIN;
    sqlite3_stmt *st;
    if (after_id > 0) {
        st = prep(2, "SELECT attempt, seq FROM llm_calls WHERE id = ?1 AND task_id = ?2");
        if (st == NULL)
            return sq_db_error(db, err, "prepare llm call cursor");
        sqlite3_bind_int64(st, 1, after_id);
        sqlite3_bind_int64(st, 2, task_id);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            from_attempt = sqlite3_column_int64(st, 0);
            from_seq = sqlite3_column_int64(st, 1);
            from_id = after_id;
        }
        sqlite3_reset(st);
        if (step == SQLITE_DONE)
            return ag_err_set(err, AG_EINVAL, "cursor: call %lld is not a call of task %lld", (long long)after_id,
                              (long long)task_id);
        if (step != SQLITE_ROW)
            return sq_db_error(db, err, "llm call cursor");
    }
    st = prep(3, "SELECT " CALL_COLS " FROM llm_calls WHERE task_id = ?1 AND (attempt, seq, id) > (?2, ?3, ?4) "
                  "ORDER BY attempt, seq, id LIMIT ?5");
    if (st == NULL)
        return sq_db_error(db, err, "prepare llm call list");
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int64(st, 2, from_attempt);
    sqlite3_bind_int64(st, 3, from_seq);
    sqlite3_bind_int64(st, 4, from_id);
    sqlite3_bind_int(st, 5, limit);
    size_t cap = 0, got = 0;
    ag_llm_call_t *items = NULL;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (got == cap) {
            cap = cap ? cap * 2 : 16;
            items = ag_xrealloc(items, cap * sizeof(*items));
        }
        memset(&items[got], 0, sizeof(items[got]));
        read_call(st, &items[got++]);
    }
    if (step != SQLITE_DONE) {
        int rc = sq_db_error(db, err, "llm call list");
        sqlite3_reset(st);
        ag_llm_calls_free(items, got);
        return rc;
    }
    sqlite3_reset(st);
    *out = items;
    *n = got;
    return 0;
}

int ag__sq_llm_spend(ag_store_t *s, int64_t task_id, const char *domain, int64_t since_ms, double *out,
                     ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    *out = 0;
    if (task_id <= 0 && domain == NULL)
        return ag_err_set(err, AG_EINVAL, "llm spend: a task or a domain is required");
    sqlite3_stmt *st = task_id > 0 ? prep(4, "SELECT total(cost) FROM llm_calls WHERE task_id = ?1")
                                   : prep(5, "SELECT total(cost) FROM llm_calls WHERE domain = ?1 AND created_at >= ?2");
    if (st == NULL)
        return sq_db_error(db, err, "prepare llm spend");
    if (task_id > 0) {
        sqlite3_bind_int64(st, 1, task_id);
    } else {
        sq_bind_text(st, 1, domain);
        sqlite3_bind_int64(st, 2, since_ms);
    }
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        *out = sqlite3_column_double(st, 0);
    else
        rc = sq_db_error(db, err, "llm spend");
    sqlite3_reset(st);
    return rc;
}
