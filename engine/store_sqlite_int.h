/*
 * store_sqlite_int.h: what store_sqlite.c shares with the other files of the SQLite backend
 * (store_sqlite_webhooks.c, store_sqlite_llm.c): the connection of a store, the process-wide write mutex, and
 * their ops.
 */
#ifndef AG_STORE_SQLITE_INT_H
#define AG_STORE_SQLITE_INT_H

#include <sqlite3.h>

#include "store.h"

/* The connection of a SQLite store (borrowed). */
sqlite3 *ag__sqlite_db(ag_store_t *s);
/* Prepared statements of the store_sqlite_*.c files, cached per connection: slot ranges per file
 * (flow: 0-31, llm: 32-39, kv: 40-47). Returns the statement reset with its bindings cleared, or NULL when it
 * cannot be prepared (sqlite3_errmsg(ag__sqlite_db(s)) says why). sql must be the same for a slot. */
#define AG_SQ_EXT_SLOTS 48
enum { AG_SQ_SLOT_FLOW = 0, AG_SQ_SLOT_LLM = 32, AG_SQ_SLOT_KV = 40 };
sqlite3_stmt *ag__sqlite_stmt(ag_store_t *s, int slot, const char *sql);

/* The mutex every write transaction of this process holds (store_sqlite.c, write_mu). */
void ag__sqlite_write_lock(void);
void ag__sqlite_write_unlock(void);

/* Shared by the store_sqlite_*.c files. */
static inline int sq_db_error(sqlite3 *db, ag_err_t *err, const char *what)
{
    return ag_err_set(err, AG_ESTORE, "sqlite %s: %s", what, sqlite3_errmsg(db));
}

static inline char *sq_col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    return v ? ag_xstrndup((const char *)v, (size_t)sqlite3_column_bytes(st, i)) : NULL;
}

static inline void sq_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* Runs one statement to completion; 0 or AG_ESTORE. */
static inline int sq_exec(sqlite3 *db, const char *sql, ag_err_t *err)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sq_db_error(db, err, sql);
    return 0;
}

/* Takes the write mutex and begins a write transaction. */
static inline int sq_begin(sqlite3 *db, ag_err_t *err)
{
    ag__sqlite_write_lock();
    int rc = sq_exec(db, "BEGIN IMMEDIATE", err);
    if (rc != 0)
        ag__sqlite_write_unlock();
    return rc;
}

/* Commits (rc 0) or rolls back, and releases the write mutex; returns the final rc. */
static inline int sq_finish(sqlite3 *db, int rc, ag_err_t *err)
{
    if (rc == 0)
        rc = sq_exec(db, "COMMIT", err);
    if (rc != 0)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    ag__sqlite_write_unlock();
    return rc;
}

int ag__sq_kv_list(ag_store_t *s, const char *domain, const char *prefix, const char *after_key, int limit,
                   char ***keys, char ***values, int64_t **updated_at, size_t *n, ag_err_t *err);

/* store_sqlite_flow.c: workflows, handoffs and approvals. ag__sq_apply_flow runs inside sync's transaction,
 * after the outcome o changed the task row: it records handoffs (and their target tasks), approvals, and
 * completes the workflow when its last task ended. */
int ag__sq_apply_flow(ag_store_t *s, const ag_outcome_t *o, int64_t now, ag_err_t *err);
/* Completes every running workflow that has no task left to run (inside a write transaction): after lease
 * recovery, cancels and webhook finishes, which end tasks outside sync. */
int ag__sq_workflows_sweep(ag_store_t *s, int64_t now, ag_err_t *err);
/* Completes workflow wf when none of its tasks is left to run (inside a write transaction). */
int ag__sq_workflow_check(ag_store_t *s, const char *wf, int64_t now, ag_err_t *err);
int ag__sq_workflow_create(ag_store_t *s, const char *type, const char *domain, const char *agent, int max_attempts,
                           const char *input, ag_workflow_t *out, int64_t *task_id, ag_err_t *err);
int ag__sq_workflow_get(ag_store_t *s, int64_t id, ag_workflow_t *out, ag_err_t *err);
int ag__sq_workflow_list(ag_store_t *s, const char *status, const char *domain, int64_t before_id, int limit,
                         ag_workflow_t **out, size_t *n, ag_err_t *err);
int ag__sq_workflow_cancel(ag_store_t *s, int64_t id, ag_workflow_t *out, size_t *running, ag_err_t *err);
int ag__sq_handoff_list(ag_store_t *s, const ag_handoff_filter_t *f, int64_t after_id, int limit, ag_handoff_t **out,
                        size_t *n, ag_err_t *err);
int ag__sq_approval_get(ag_store_t *s, int64_t task_id, int seq, ag_approval_t *out, ag_err_t *err);
int ag__sq_task_approve(ag_store_t *s, int64_t id, int approve, const char *comment, const char *by, ag_task_t *out,
                        ag_err_t *err);

/* store_sqlite_webhooks.c: ops of store.h, already taking the write mutex where they write. */
int ag__sq_task_finish_waiting(ag_store_t *s, int64_t id, int succeeded, const char *result, const char *error,
                               int64_t retry_at, ag_task_t *out, ag_err_t *err);
int ag__sq_webhook_sub_create(ag_store_t *s, const ag_webhook_sub_new_t *n, ag_webhook_sub_t *out, ag_err_t *err);
int ag__sq_webhook_sub_get(ag_store_t *s, int64_t id, ag_webhook_sub_t *out, ag_err_t *err);
int ag__sq_webhook_sub_list(ag_store_t *s, int64_t after_id, int limit, ag_webhook_sub_t **out, size_t *n,
                            int64_t *next, ag_err_t *err);
int ag__sq_webhook_sub_replace(ag_store_t *s, int64_t id, const ag_webhook_sub_new_t *n, ag_webhook_sub_t *out,
                               ag_err_t *err);
int ag__sq_webhook_sub_delete(ag_store_t *s, int64_t id, ag_err_t *err);
int ag__sq_webhook_enqueue(ag_store_t *s, int limit, size_t *added, ag_err_t *err);
int ag__sq_webhook_claim(ag_store_t *s, int max, int lease_ms, ag_webhook_job_t **out, size_t *n, ag_err_t *err);
int ag__sq_webhook_record(ag_store_t *s, const ag_webhook_result_t *r, ag_err_t *err);
int ag__sq_webhook_deliveries(ag_store_t *s, int64_t sub_id, int64_t after_id, int limit,
                              ag_webhook_delivery_t **out, size_t *n, int64_t *next, ag_err_t *err);

/* store_sqlite_llm.c: the LLM call journal (llm_calls_add takes the write mutex). */
int ag__sq_llm_calls_add(ag_store_t *s, const ag_llm_call_t *calls, size_t n, ag_err_t *err);
int ag__sq_llm_call_find(ag_store_t *s, int64_t task_id, int seq, const char *request_hash, char **response,
                         ag_err_t *err);
int ag__sq_llm_calls_list(ag_store_t *s, int64_t task_id, int64_t after_id, int limit, ag_llm_call_t **out,
                          size_t *n, ag_err_t *err);
int ag__sq_llm_spend(ag_store_t *s, int64_t task_id, const char *domain, int64_t since_ms, double *out,
                     ag_err_t *err);

/* store_sqlite_kv.c: memory.incr, and the lazy purge of expired keys (migration 0008). kv_incr takes the
 * write mutex. purge_due runs purge at most once a minute per process (callers hold the write mutex; its
 * errors are ignored: a later write tries again). purge deletes up to limit expired keys. */
int ag__sq_kv_incr(ag_store_t *s, const char *domain, const char *key, int64_t by, int64_t ttl_ms, int64_t *out,
                   ag_err_t *err);
void ag__sq_kv_purge_due(ag_store_t *s, int64_t now);
int ag__sq_kv_purge(ag_store_t *s, int64_t now, int limit, int *deleted, ag_err_t *err);

#endif
