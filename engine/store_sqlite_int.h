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
 * (flow: 0-31, llm: 32-47). Returns the statement reset with its bindings cleared, or NULL when it
 * cannot be prepared (sqlite3_errmsg(ag__sqlite_db(s)) says why). sql must be the same for a slot. */
#define AG_SQ_EXT_SLOTS 48
enum { AG_SQ_SLOT_FLOW = 0, AG_SQ_SLOT_LLM = 32 };
sqlite3_stmt *ag__sqlite_stmt(ag_store_t *s, int slot, const char *sql);

/* The mutex every write transaction of this process holds (store_sqlite.c, write_mu). */
void ag__sqlite_write_lock(void);
void ag__sqlite_write_unlock(void);

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

#endif
