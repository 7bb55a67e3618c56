/*
 * store_sqlite.c: the SQLite backend of store.h.
 *
 * One connection per loop thread, WAL, synchronous=NORMAL, busy_timeout. Statements are prepared once
 * per connection. Writes that belong together (outcomes + claim) run in one BEGIN IMMEDIATE
 * transaction, so several threads contend once per batch, not once per task. Migrations are compiled
 * into the binary (migrations_sqlite.c, generated from migrations/sqlite/ by CMake).
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "b64url.h"
#include "store.h"
#include "store_sqlite_int.h"

typedef struct ag_migration_s {
    int version;
    const char *name;
    const char *sql;
} ag_migration_t;
extern const ag_migration_t ag_sqlite_migrations[];
extern const size_t ag_sqlite_migrations_count;

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_INSERT,
    ST_BY_KEY,
    ST_GET,
    ST_EXECUTE,
    ST_CANCEL_NOW,
    ST_CANCEL_REQ,
    ST_EVENTS,
    ST_OUTCOME,
    ST_CLAIM,
    ST_RENEW,
    ST_RECOVER_CANCEL,
    ST_RECOVER_QUEUE,
    ST_RECOVER_DEAD,
    ST_NEXT_DUE,
    ST_KV_GET,
    ST_KV_SET,
    ST_KV_DEL,
    ST_SCRIPT_PUT,
    ST_RETRY,
    ST_RETRY_NOTE,
    ST_AGENT_INSERT,
    ST_AGENT_GET,
    ST_AGENT_LIST,
    ST_AGENT_REPLACE,
    ST_AGENT_RUNNING,
    ST_AGENT_DELETE,
    ST_AGENT_COUNTS,
    ST_AGENT_LAST_ERROR,
    ST_EVENTS_AFTER,
    ST_EVENT_ADD,
    ST_EVENTS_LAST,
    ST__COUNT
};

#define TASK_COLS                                                                                                     \
    "id, type, domain, agent, state, priority, input, result, error, attempts, max_attempts, idempotency_key, "       \
    "script_version, run_at, created_at, updated_at, started_at, finished_at, workflow_id"

#define AGENT_COLS "id, name, domain, script, capabilities, tools, config, status, created_at, updated_at"

/* A task waits while an agent record of its (domain, agent script) is paused (index agents_paused). */
#define NOT_PAUSED                                                                                                    \
    "NOT EXISTS (SELECT 1 FROM agents a WHERE a.domain = tasks.domain AND a.script = tasks.agent "                   \
    "AND a.status = 'paused')"

static const char *sql_text[ST__COUNT] = {
    [ST_EVENTS_AFTER] = "SELECT id, type, domain, task_id, from_state, to_state, detail, data, at FROM events "
                        "WHERE id > ?1 ORDER BY id LIMIT ?2",
    [ST_EVENT_ADD] = "INSERT INTO events (type, domain, data, at) VALUES (?1, ?2, ?3, ?4)",
    [ST_EVENTS_LAST] = "SELECT coalesce(max(id), 0) FROM events",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INSERT] = "INSERT INTO tasks (type, domain, agent, state, priority, input, max_attempts, idempotency_key, "
                  "run_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) "
                  "ON CONFLICT (idempotency_key) DO NOTHING RETURNING " TASK_COLS,
    [ST_BY_KEY] = "SELECT " TASK_COLS " FROM tasks WHERE idempotency_key = ?1",
    [ST_GET] = "SELECT " TASK_COLS " FROM tasks WHERE id = ?1",
    [ST_EXECUTE] = "UPDATE tasks SET state = 'queued', updated_at = ?2 WHERE id = ?1 AND state = 'pending' "
                   "RETURNING " TASK_COLS,
    [ST_CANCEL_NOW] = "UPDATE tasks SET state = 'cancelled', error = 'cancelled', finished_at = ?2, updated_at = ?2 "
                      "WHERE id = ?1 AND state IN ('pending', 'queued', 'failed', 'waiting') RETURNING " TASK_COLS,
    [ST_CANCEL_REQ] = "UPDATE tasks SET cancel_requested = 1, updated_at = ?2 WHERE id = ?1 AND state = 'running' "
                      "RETURNING " TASK_COLS,
    [ST_EVENTS] = "SELECT from_state, to_state, at, detail FROM events WHERE task_id = ?1 ORDER BY id",
    [ST_OUTCOME] = "UPDATE tasks SET state = ?2, result = ?3, error = ?4, script_version = ?5, "
                   "run_at = coalesce(?6, run_at), finished_at = ?7, updated_at = ?8, lease_owner = NULL, "
                   "lease_until = NULL, cancel_requested = 0 WHERE id = ?1 AND state = 'running' AND lease_owner = ?9",
    /* INDEXED BY: walk tasks_ready in claim order and stop after ?4 rows. Left to itself the planner
     * picks tasks_by_state (0002) and sorts every queued task on each claim (4x slower at 20k queued). */
    [ST_CLAIM] = "UPDATE tasks SET state = 'running', attempts = attempts + 1, lease_owner = ?1, lease_until = ?2, "
                 "started_at = coalesce(started_at, ?3), updated_at = ?3 WHERE id IN (SELECT id FROM tasks "
                 "INDEXED BY tasks_ready "
                 "WHERE state IN ('queued', 'failed') AND run_at <= ?3 AND " NOT_PAUSED " "
                 "ORDER BY priority DESC, run_at, id LIMIT ?4) "
                 "RETURNING id, type, domain, agent, input, attempts, max_attempts, workflow_id",
    [ST_RENEW] = "UPDATE tasks SET lease_until = ?3 WHERE id = ?1 AND lease_owner = ?2 AND state = 'running' "
                 "RETURNING cancel_requested",
    [ST_RECOVER_CANCEL] = "UPDATE tasks SET state = 'cancelled', finished_at = ?1, updated_at = ?1, "
                          "lease_owner = NULL, "
                          "lease_until = NULL, error = 'cancelled (its worker was lost)' "
                          "WHERE state = 'running' AND lease_until < ?1 AND cancel_requested = 1",
    [ST_RECOVER_QUEUE] = "UPDATE tasks SET state = 'queued', run_at = ?1, updated_at = ?1, lease_owner = NULL, "
                         "lease_until = NULL, error = 'lease expired: the worker running it was lost' "
                         "WHERE state = 'running' AND lease_until < ?1 AND attempts < max_attempts",
    [ST_RECOVER_DEAD] = "UPDATE tasks SET state = 'dead', finished_at = ?1, updated_at = ?1, lease_owner = NULL, "
                        "lease_until = NULL, error = 'lease expired on the last attempt: the worker running it was "
                        "lost' WHERE state = 'running' AND lease_until < ?1",
    [ST_NEXT_DUE] = "SELECT min(run_at) FROM tasks WHERE state IN ('queued', 'failed') AND " NOT_PAUSED,
    [ST_KV_GET] = "SELECT value FROM kv WHERE domain = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
    [ST_KV_SET] = "INSERT INTO kv (domain, key, value, updated_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5) "
                  "ON CONFLICT (domain, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, "
                  "expires_at = excluded.expires_at",
    [ST_KV_DEL] = "DELETE FROM kv WHERE domain = ?1 AND key = ?2",
    [ST_SCRIPT_PUT] = "INSERT INTO script_versions (hash, path, source, created_at) VALUES (?1, ?2, ?3, ?4) "
                      "ON CONFLICT (hash) DO NOTHING",
    [ST_RETRY] = "UPDATE tasks SET state = 'queued', attempts = 0, run_at = ?2, updated_at = ?2, result = NULL, "
                 "error = NULL, finished_at = NULL, lease_owner = NULL, lease_until = NULL, cancel_requested = 0 "
                 "WHERE id = ?1 AND state IN ('dead', 'failed') RETURNING " TASK_COLS,
    /* The transition trigger wrote the dead/failed -> queued event; say why it happened. */
    [ST_RETRY_NOTE] = "UPDATE events SET detail = ?2 WHERE id = (SELECT max(id) FROM events "
                      "WHERE task_id = ?1 AND to_state = 'queued')",
    [ST_AGENT_INSERT] = "INSERT INTO agents (name, domain, script, capabilities, tools, config, status, created_at, "
                        "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) ON CONFLICT (domain, name) DO NOTHING "
                        "RETURNING " AGENT_COLS,
    [ST_AGENT_GET] = "SELECT " AGENT_COLS " FROM agents WHERE id = ?1",
    [ST_AGENT_LIST] = "SELECT " AGENT_COLS " FROM agents WHERE id > ?1 AND (?2 IS NULL OR domain = ?2) "
                      "AND (?3 IS NULL OR status = ?3) ORDER BY id LIMIT ?4",
    [ST_AGENT_REPLACE] = "UPDATE agents SET name = ?2, domain = ?3, script = ?4, capabilities = ?5, tools = ?6, "
                         "config = ?7, status = ?8, updated_at = ?9 WHERE id = ?1 RETURNING " AGENT_COLS,
    [ST_AGENT_RUNNING] = "SELECT count(*) FROM tasks WHERE state = 'running' AND domain = ?1 AND agent = ?2",
    [ST_AGENT_DELETE] = "DELETE FROM agents WHERE id = ?1",
    [ST_AGENT_COUNTS] = "SELECT state, count(*) FROM tasks WHERE domain = ?1 AND agent = ?2 "
                        "AND state IN ('running', 'succeeded', 'failed', 'dead') GROUP BY state",
    [ST_AGENT_LAST_ERROR] = "SELECT error, updated_at FROM tasks WHERE domain = ?1 AND agent = ?2 "
                            "AND state IN ('failed', 'dead') AND error IS NOT NULL ORDER BY updated_at DESC, id DESC "
                            "LIMIT 1",
};

typedef struct sqlite_store_s {
    ag_store_t super;
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
    sqlite3_stmt *ext[AG_SQ_EXT_SLOTS]; /* statements of store_sqlite_*.c, by slot (ag__sqlite_stmt) */
} sqlite_store_t;

static int db_error(sqlite_store_t *s, ag_err_t *err, const char *what)
{
    return ag_err_set(err, AG_ESTORE, "sqlite %s: %s", what, sqlite3_errmsg(s->db));
}

/* Returns the prepared statement for id, reset and with its bindings cleared. */
static sqlite3_stmt *stmt(sqlite_store_t *s, int id)
{
    if (s->st[id] == NULL) {
        if (sqlite3_prepare_v3(s->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id], NULL) != SQLITE_OK)
            return NULL;
    } else {
        sqlite3_reset(s->st[id]);
        sqlite3_clear_bindings(s->st[id]);
    }
    return s->st[id];
}

sqlite3_stmt *ag__sqlite_stmt(ag_store_t *_s, int slot, const char *sql)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    AG_ASSERT(slot >= 0 && slot < AG_SQ_EXT_SLOTS);
    if (s->ext[slot] == NULL) {
        if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->ext[slot], NULL) != SQLITE_OK)
            return NULL;
    } else {
        sqlite3_reset(s->ext[slot]);
        sqlite3_clear_bindings(s->ext[slot]);
    }
    return s->ext[slot];
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static char *col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    return v ? ag_xstrndup((const char *)v, (size_t)sqlite3_column_bytes(st, i)) : NULL;
}

static void read_task(sqlite3_stmt *st, ag_task_t *t)
{
    t->id = sqlite3_column_int64(st, 0);
    t->type = col_str(st, 1);
    t->domain = col_str(st, 2);
    t->agent = col_str(st, 3);
    const char *state = (const char *)sqlite3_column_text(st, 4);
    int si = state ? ag_task_state_parse(state) : -1;
    t->state = si < 0 ? AG_TASK_PENDING : (ag_task_state_t)si;
    t->priority = sqlite3_column_int(st, 5);
    t->input = col_str(st, 6);
    t->result = col_str(st, 7);
    t->error = col_str(st, 8);
    t->attempts = sqlite3_column_int(st, 9);
    t->max_attempts = sqlite3_column_int(st, 10);
    t->idempotency_key = col_str(st, 11);
    t->script_version = col_str(st, 12);
    t->run_at = sqlite3_column_int64(st, 13);
    t->created_at = sqlite3_column_int64(st, 14);
    t->updated_at = sqlite3_column_int64(st, 15);
    t->started_at = sqlite3_column_int64(st, 16);
    t->finished_at = sqlite3_column_int64(st, 17);
    t->workflow_id = col_str(st, 18);
}

static int exec_simple(sqlite_store_t *s, int id, ag_err_t *err)
{
    sqlite3_stmt *st = stmt(s, id);
    if (st == NULL || sqlite3_step(st) != SQLITE_DONE)
        return db_error(s, err, sql_text[id]);
    sqlite3_reset(st);
    return 0;
}

static void rollback(sqlite_store_t *s)
{
    sqlite3_stmt *st = stmt(s, ST_ROLLBACK);
    if (st != NULL) {
        sqlite3_step(st);
        sqlite3_reset(st);
    }
}

/* Runs a statement expected to return at most one task row: 0 (found), AG_ENOTFOUND, or AG_ESTORE. */
static int step_task(sqlite_store_t *s, sqlite3_stmt *st, ag_task_t *out, ag_err_t *err)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_task(st, out);
        while (sqlite3_step(st) == SQLITE_ROW) {
        }
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return AG_ENOTFOUND;
    return db_error(s, err, "step");
}

/* ---- operations ----------------------------------------------------------------------------------------------- */

static void sq_close(ag_store_t *_s)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    for (int i = 0; i < AG_SQ_EXT_SLOTS; i++)
        sqlite3_finalize(s->ext[i]);
    sqlite3_close(s->db);
    free(s);
}

static int sq_migrate(ag_store_t *_s, int *applied, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    int rc = AG_ESTORE, n = 0;
    char *errmsg = NULL;
    if (sqlite3_exec(s->db,
                     "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                     "name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
                     NULL, NULL, &errmsg) != SQLITE_OK)
        goto fail;
    for (size_t i = 0; i < ag_sqlite_migrations_count; i++) {
        const ag_migration_t *m = &ag_sqlite_migrations[i];
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM schema_migrations WHERE version = ?1", -1, &q, NULL) !=
            SQLITE_OK) {
            ag_err_set(err, AG_ESTORE, "sqlite migrate: %s", sqlite3_errmsg(s->db));
            goto fail_rollback;
        }
        sqlite3_bind_int(q, 1, m->version);
        int have = sqlite3_step(q) == SQLITE_ROW;
        sqlite3_finalize(q);
        if (have)
            continue;
        if (sqlite3_exec(s->db, m->sql, NULL, NULL, &errmsg) != SQLITE_OK)
            goto fail;
        char rec[512];
        snprintf(rec, sizeof(rec), "INSERT INTO schema_migrations VALUES (%d, '%s', %lld)", m->version, m->name,
                 (long long)ag_now_ms());
        if (sqlite3_exec(s->db, rec, NULL, NULL, &errmsg) != SQLITE_OK)
            goto fail;
        n++;
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, &errmsg) != SQLITE_OK)
        goto fail;
    if (applied)
        *applied = n;
    return 0;
fail:
    ag_err_set(err, rc, "sqlite migrate: %s", errmsg ? errmsg : sqlite3_errmsg(s->db));
    sqlite3_free(errmsg);
fail_rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int sq_ping(ag_store_t *_s, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    if (sqlite3_exec(s->db, "SELECT 1 FROM tasks LIMIT 0", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(s, err, "ping");
    return 0;
}

static int sq_task_create(ag_store_t *_s, const ag_task_new_t *n, ag_task_t *out, int *existed, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    int64_t now = ag_now_ms();
    sqlite3_stmt *st = stmt(s, ST_INSERT);
    if (st == NULL)
        return db_error(s, err, "prepare insert");
    bind_text(st, 1, n->type);
    bind_text(st, 2, n->domain);
    bind_text(st, 3, n->agent);
    bind_text(st, 4, n->queued ? "queued" : "pending");
    sqlite3_bind_int(st, 5, n->priority);
    bind_text(st, 6, n->input ? n->input : "{}");
    sqlite3_bind_int(st, 7, n->max_attempts);
    bind_text(st, 8, n->idempotency_key);
    sqlite3_bind_int64(st, 9, n->run_at > 0 ? n->run_at : now);
    sqlite3_bind_int64(st, 10, now);
    int rc = step_task(s, st, out, err);
    *existed = 0;
    if (rc != AG_ENOTFOUND || n->idempotency_key == NULL)
        return rc;
    /* The key was taken: answer with that task. */
    st = stmt(s, ST_BY_KEY);
    if (st == NULL)
        return db_error(s, err, "prepare by key");
    bind_text(st, 1, n->idempotency_key);
    rc = step_task(s, st, out, err);
    if (rc == 0)
        *existed = 1;
    else if (rc == AG_ENOTFOUND)
        rc = ag_err_set(err, AG_ESTORE, "idempotency key conflict without a task");
    return rc;
}

static int sq_task_create_batch(ag_store_t *_s, const ag_task_new_t *n, size_t count, ag_task_t *out, int *existed,
                                int *rcs, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    int rc;
    if ((rc = exec_simple(s, ST_BEGIN, err)) != 0)
        return rc;
    for (size_t i = 0; i < count; i++) {
        ag_err_t e;
        rcs[i] = sq_task_create(_s, &n[i], &out[i], &existed[i], &e);
    }
    if ((rc = exec_simple(s, ST_COMMIT, err)) != 0) {
        rollback(s);
        for (size_t i = 0; i < count; i++)
            if (rcs[i] == 0)
                ag_task_clear(&out[i]);
        return rc;
    }
    return 0;
}

static int sq_task_get(ag_store_t *_s, int64_t id, ag_task_t *out, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    sqlite3_stmt *st = stmt(s, ST_GET);
    if (st == NULL)
        return db_error(s, err, "prepare get");
    sqlite3_bind_int64(st, 1, id);
    int rc = step_task(s, st, out, err);
    if (rc == AG_ENOTFOUND)
        ag_err_set(err, rc, "no task %lld", (long long)id);
    return rc;
}

/* Runs the transition statement sid; when it matches nothing, reads the task to tell why. */
static int transition(sqlite_store_t *s, int sid, int64_t id, ag_task_t *out, ag_err_t *err)
{
    sqlite3_stmt *st = stmt(s, sid);
    if (st == NULL)
        return db_error(s, err, "prepare transition");
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, ag_now_ms());
    int rc = step_task(s, st, out, err);
    if (rc != AG_ENOTFOUND)
        return rc;
    if ((rc = sq_task_get(&s->super, id, out, err)) != 0)
        return rc;
    return AG_ESTATE;
}

static int sq_task_execute(ag_store_t *_s, int64_t id, ag_task_t *out, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    int rc = transition(s, ST_EXECUTE, id, out, err);
    if (rc == AG_ESTATE && (out->state == AG_TASK_QUEUED || out->state == AG_TASK_FAILED))
        return 0;
    if (rc == AG_ESTATE)
        ag_err_set(err, rc, "task %lld is %s; only a pending task can be executed", (long long)id,
                   ag_task_state_name(out->state));
    return rc;
}

static int sq_task_cancel(ag_store_t *_s, int64_t id, ag_task_t *out, int *requested, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    *requested = 0;
    int rc = transition(s, ST_CANCEL_NOW, id, out, err);
    if (rc == 0 && out->workflow_id != NULL) {
        ag_err_t werr; /* the cancel stands; a missed completion is caught by the next recovery sweep */
        ag__sq_workflow_check(&s->super, out->workflow_id, ag_now_ms(), &werr);
    }
    if (rc != AG_ESTATE)
        return rc;
    if (out->state == AG_TASK_RUNNING) {
        ag_task_clear(out);
        rc = transition(s, ST_CANCEL_REQ, id, out, err);
        if (rc == 0)
            *requested = 1;
        if (rc != AG_ESTATE)
            return rc;
    }
    return ag_err_set(err, AG_ESTATE, "task %lld is %s; it can no longer be cancelled", (long long)id,
                      ag_task_state_name(out->state));
}

static int sq_task_events(ag_store_t *_s, int64_t id, ag_task_event_t **out, size_t *n, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    sqlite3_stmt *st = stmt(s, ST_EVENTS);
    if (st == NULL)
        return db_error(s, err, "prepare events");
    sqlite3_bind_int64(st, 1, id);
    size_t cap = 8, len = 0;
    ag_task_event_t *ev = ag_xmalloc(cap * sizeof(*ev));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap)
            ev = ag_xrealloc(ev, (cap *= 2) * sizeof(*ev));
        ev[len].from = col_str(st, 0);
        ev[len].to = col_str(st, 1);
        ev[len].at = sqlite3_column_int64(st, 2);
        ev[len].detail = col_str(st, 3);
        len++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        ag_task_events_free(ev, len);
        return db_error(s, err, "events");
    }
    if (len == 0) {
        free(ev);
        return ag_err_set(err, AG_ENOTFOUND, "no task %lld", (long long)id);
    }
    *out = ev;
    *n = len;
    return 0;
}

/* ---- listing and retry (GET /api/v1/tasks, POST /api/v1/tasks/{id}/retry) -------------------------------------- */

/*
 * Only the filters given become terms, so the planner sees plain equalities and walks the matching
 * (column, id) index of 0002_task_workflow newest first, stopping after one page. Parameter numbers are
 * fixed per filter (?9 is always there, so binding an absent one is harmless). The few shapes are
 * prepared per call: a listing is rare next to claims, and preparing costs microseconds.
 */
static int sq_task_list(ag_store_t *_s, const ag_task_filter_t *f, int64_t before_id, int limit, ag_task_t **out,
                        size_t *n, int64_t *next, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    *out = NULL;
    *n = 0;
    *next = 0;
    if (limit < 1 || limit > AG_TASK_LIST_MAX || before_id < 0 || f->state >= AG_TASK__NSTATES)
        return ag_err_set(err, AG_EINVAL, "task list: limit must be 1 to %d, the cursor and state valid",
                          AG_TASK_LIST_MAX);
    char sql[768];
    size_t len = (size_t)snprintf(sql, sizeof(sql), "SELECT " TASK_COLS " FROM tasks WHERE 1");
    static const char *terms[] = {" AND state = ?1", " AND domain = ?2", " AND agent = ?3", " AND type = ?4",
                                  " AND workflow_id = ?5", " AND created_at >= ?6", " AND created_at < ?7",
                                  " AND id < ?8"};
    int have[8] = {f->state >= 0, f->domain != NULL, f->agent != NULL, f->type != NULL, f->workflow_id != NULL,
                   f->created_after > 0, f->created_before > 0, before_id > 0};
    for (int i = 0; i < 8; i++)
        if (have[i])
            len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s", terms[i]);
    snprintf(sql + len, sizeof(sql) - len, " ORDER BY id DESC LIMIT ?9");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "prepare list");
    if (f->state >= 0)
        bind_text(st, 1, ag_task_state_name((ag_task_state_t)f->state));
    bind_text(st, 2, f->domain);
    bind_text(st, 3, f->agent);
    bind_text(st, 4, f->type);
    bind_text(st, 5, f->workflow_id);
    sqlite3_bind_int64(st, 6, f->created_after);
    sqlite3_bind_int64(st, 7, f->created_before);
    sqlite3_bind_int64(st, 8, before_id);
    sqlite3_bind_int(st, 9, limit + 1); /* one more than asked tells whether another page follows */
    ag_task_t *items = ag_xcalloc((size_t)limit + 1, sizeof(*items));
    size_t got = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && got <= (size_t)limit)
        read_task(st, &items[got++]);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        rc = db_error(s, err, "list");
        sqlite3_finalize(st);
        for (size_t i = 0; i < got; i++)
            ag_task_clear(&items[i]);
        free(items);
        return rc;
    }
    sqlite3_finalize(st);
    if (got > (size_t)limit) {
        ag_task_clear(&items[--got]);
        *next = items[got - 1].id;
    }
    *out = items;
    *n = got;
    return 0;
}

static int sq_task_retry(ag_store_t *_s, int64_t id, ag_task_t *out, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    int rc;
    if ((rc = exec_simple(s, ST_BEGIN, err)) != 0)
        return rc;
    if ((rc = transition(s, ST_RETRY, id, out, err)) != 0) {
        rollback(s);
        if (rc == AG_ESTATE)
            ag_err_set(err, rc, "task %lld is %s; only a dead or failed task can be retried", (long long)id,
                       ag_task_state_name(out->state));
        return rc;
    }
    sqlite3_stmt *st = stmt(s, ST_RETRY_NOTE);
    if (st == NULL) {
        rc = db_error(s, err, "prepare retry note");
        goto fail;
    }
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, "retried on request; attempts reset to 0");
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        rc = db_error(s, err, "retry note");
        goto fail;
    }
    if ((rc = exec_simple(s, ST_COMMIT, err)) != 0)
        goto fail;
    return 0;
fail:
    rollback(s);
    ag_task_clear(out);
    return rc;
}

static int apply_outcome(sqlite_store_t *s, const ag_outcome_t *o, const char *owner, int64_t now, ag_err_t *err)
{
    sqlite3_stmt *st = stmt(s, ST_OUTCOME);
    if (st == NULL)
        return db_error(s, err, "prepare outcome");
    sqlite3_bind_int64(st, 1, o->id);
    bind_text(st, 2, ag_task_state_name(o->state));
    bind_text(st, 3, o->state == AG_TASK_SUCCEEDED ? o->result : NULL);
    bind_text(st, 4, o->error);
    bind_text(st, 5, o->script_version);
    if (o->state == AG_TASK_FAILED)
        sqlite3_bind_int64(st, 6, o->run_at);
    if (ag_task_state_terminal(o->state))
        sqlite3_bind_int64(st, 7, now);
    sqlite3_bind_int64(st, 8, now);
    bind_text(st, 9, owner);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_error(s, err, "outcome");
    /* what the run implies (handoffs, an approval request, the end of its workflow), only if it still held
     * the task: a worker that lost its lease must not hand off */
    if (sqlite3_changes(s->db) == 0)
        return 0;
    return ag__sq_apply_flow(&s->super, o, now, err);
}

static int claim(sqlite_store_t *s, const char *owner, int max, int lease_ms, int64_t now, ag_claim_t **claimed,
                 size_t *nclaimed, ag_err_t *err)
{
    sqlite3_stmt *st = stmt(s, ST_CLAIM);
    if (st == NULL)
        return db_error(s, err, "prepare claim");
    bind_text(st, 1, owner);
    sqlite3_bind_int64(st, 2, now + lease_ms);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int(st, 4, max);
    ag_claim_t *c = ag_xmalloc((size_t)max * sizeof(*c));
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < (size_t)max) {
        c[n].id = sqlite3_column_int64(st, 0);
        c[n].type = col_str(st, 1);
        c[n].domain = col_str(st, 2);
        c[n].agent = col_str(st, 3);
        c[n].input = col_str(st, 4);
        c[n].attempts = sqlite3_column_int(st, 5);
        c[n].max_attempts = sqlite3_column_int(st, 6);
        c[n].workflow_id = col_str(st, 7);
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        ag_claims_free(c, n);
        return db_error(s, err, "claim");
    }
    *claimed = c;
    *nclaimed = n;
    return 0;
}

static int sq_sync(ag_store_t *_s, const ag_outcome_t *done, size_t ndone, const char *owner, int max, int lease_ms,
                   ag_claim_t **claimed, size_t *nclaimed, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    *claimed = NULL;
    *nclaimed = 0;
    if (ndone == 0 && max <= 0)
        return 0;
    int64_t now = ag_now_ms();
    int rc;
    if ((rc = exec_simple(s, ST_BEGIN, err)) != 0)
        return rc;
    for (size_t i = 0; i < ndone; i++)
        if ((rc = apply_outcome(s, &done[i], owner, now, err)) != 0)
            goto fail;
    if (max > 0 && (rc = claim(s, owner, max, lease_ms, now, claimed, nclaimed, err)) != 0)
        goto fail;
    if ((rc = exec_simple(s, ST_COMMIT, err)) != 0)
        goto fail;
    return 0;
fail:
    rollback(s);
    ag_claims_free(*claimed, *nclaimed);
    *claimed = NULL;
    *nclaimed = 0;
    return rc;
}

static int sq_heartbeat(ag_store_t *_s, const char *owner, const int64_t *ids, size_t n, int lease_ms,
                        int64_t **cancel, size_t *ncancel, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    *cancel = NULL;
    *ncancel = 0;
    if (n == 0)
        return 0;
    int rc;
    if ((rc = exec_simple(s, ST_BEGIN, err)) != 0)
        return rc;
    int64_t until = ag_now_ms() + lease_ms;
    int64_t *out = NULL;
    size_t nout = 0;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = stmt(s, ST_RENEW);
        if (st == NULL) {
            rc = db_error(s, err, "prepare renew");
            goto fail;
        }
        sqlite3_bind_int64(st, 1, ids[i]);
        bind_text(st, 2, owner);
        sqlite3_bind_int64(st, 3, until);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW && sqlite3_column_int(st, 0) != 0) {
            out = ag_xrealloc(out, (nout + 1) * sizeof(*out));
            out[nout++] = ids[i];
        }
        sqlite3_reset(st);
        if (step != SQLITE_ROW && step != SQLITE_DONE) {
            rc = db_error(s, err, "renew");
            goto fail;
        }
    }
    if ((rc = exec_simple(s, ST_COMMIT, err)) != 0)
        goto fail;
    *cancel = out;
    *ncancel = nout;
    return 0;
fail:
    rollback(s);
    free(out);
    return rc;
}

static int sq_recover(ag_store_t *_s, size_t *recovered, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    int rc;
    if ((rc = exec_simple(s, ST_BEGIN, err)) != 0)
        return rc;
    int64_t now = ag_now_ms();
    size_t total = 0;
    int ids[3] = {ST_RECOVER_CANCEL, ST_RECOVER_QUEUE, ST_RECOVER_DEAD};
    for (int i = 0; i < 3; i++) {
        sqlite3_stmt *st = stmt(s, ids[i]);
        if (st == NULL) {
            rc = db_error(s, err, "prepare recover");
            goto fail;
        }
        sqlite3_bind_int64(st, 1, now);
        if (sqlite3_step(st) != SQLITE_DONE) {
            sqlite3_reset(st);
            rc = db_error(s, err, "recover");
            goto fail;
        }
        sqlite3_reset(st);
        total += (size_t)sqlite3_changes(s->db);
    }
    if ((rc = ag__sq_workflows_sweep(&s->super, now, err)) != 0)
        goto fail;
    if ((rc = exec_simple(s, ST_COMMIT, err)) != 0)
        goto fail;
    *recovered = total;
    return 0;
fail:
    rollback(s);
    return rc;
}

/* ---- event log ------------------------------------------------------------------------------------------------ */

static int sq_events_after(ag_store_t *_s, int64_t after, int limit, ag_event_t **out, size_t *n, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    sqlite3_stmt *st = stmt(s, ST_EVENTS_AFTER);
    if (st == NULL)
        return db_error(s, err, "prepare events after");
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, limit > 0 ? limit : 100);
    size_t cap = 16, len = 0;
    ag_event_t *ev = ag_xmalloc(cap * sizeof(*ev));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap)
            ev = ag_xrealloc(ev, (cap *= 2) * sizeof(*ev));
        ag_event_t *e = &ev[len++];
        e->id = sqlite3_column_int64(st, 0);
        e->type = col_str(st, 1);
        e->domain = col_str(st, 2);
        e->task_id = sqlite3_column_int64(st, 3);
        e->from = col_str(st, 4);
        e->to = col_str(st, 5);
        e->detail = col_str(st, 6);
        e->data = col_str(st, 7);
        e->at = sqlite3_column_int64(st, 8);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        ag_events_free(ev, len);
        return db_error(s, err, "events after");
    }
    *out = ev;
    *n = len;
    return 0;
}

static int sq_event_add(ag_store_t *_s, const char *type, const char *domain, const char *data, int64_t *id,
                        ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    sqlite3_stmt *st = stmt(s, ST_EVENT_ADD);
    if (st == NULL)
        return db_error(s, err, "prepare event add");
    bind_text(st, 1, type);
    bind_text(st, 2, domain);
    bind_text(st, 3, data ? data : "{}");
    sqlite3_bind_int64(st, 4, ag_now_ms());
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_error(s, err, "event add");
    if (id)
        *id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

static int sq_events_last_id(ag_store_t *_s, int64_t *id, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    sqlite3_stmt *st = stmt(s, ST_EVENTS_LAST);
    if (st == NULL)
        return db_error(s, err, "prepare events last");
    int rc = sqlite3_step(st);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(s, err, "events last");
}

static int sq_task_counts(ag_store_t *_s, int64_t *counts, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT state, count(*) FROM tasks GROUP BY state", -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "prepare counts");
    memset(counts, 0, sizeof(int64_t) * AG_TASK__NSTATES);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int k = ag_task_state_parse((const char *)sqlite3_column_text(st, 0));
        if (k >= 0)
            counts[k] = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_error(s, err, "counts");
}

static int sq_next_due(ag_store_t *_s, int64_t *run_at, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    sqlite3_stmt *st = stmt(s, ST_NEXT_DUE);
    if (st == NULL)
        return db_error(s, err, "prepare next due");
    int rc = sqlite3_step(st);
    *run_at = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(s, err, "next due");
}

static int sq_kv_get(ag_store_t *_s, const char *domain, const char *key, char **out, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    sqlite3_stmt *st = stmt(s, ST_KV_GET);
    if (st == NULL)
        return db_error(s, err, "prepare kv get");
    bind_text(st, 1, domain);
    bind_text(st, 2, key);
    sqlite3_bind_int64(st, 3, ag_now_ms()); /* an expired key reads as absent (store_sqlite_kv.c purges it) */
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = col_str(st, 0);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? AG_ENOTFOUND : db_error(s, err, "kv get");
}

static int kv_write(sqlite_store_t *s, int sid, const char *domain, const char *key, const char *value,
                    int64_t ttl_ms, ag_err_t *err)
{
    sqlite3_stmt *st = stmt(s, sid);
    if (st == NULL)
        return db_error(s, err, "prepare kv");
    bind_text(st, 1, domain);
    bind_text(st, 2, key);
    int64_t now = ag_now_ms();
    if (value != NULL) {
        bind_text(st, 3, value);
        sqlite3_bind_int64(st, 4, now);
        if (ttl_ms > 0)
            sqlite3_bind_int64(st, 5, now + ttl_ms);
        else
            sqlite3_bind_null(st, 5);
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_error(s, err, "kv write");
    ag__sq_kv_purge_due(&s->super, now);
    return 0;
}

static int sq_kv_set(ag_store_t *_s, const char *domain, const char *key, const char *value, int64_t ttl_ms,
                     ag_err_t *err)
{
    return kv_write((sqlite_store_t *)_s, ST_KV_SET, domain, key, value, ttl_ms, err);
}

static int sq_kv_del(ag_store_t *_s, const char *domain, const char *key, ag_err_t *err)
{
    return kv_write((sqlite_store_t *)_s, ST_KV_DEL, domain, key, NULL, 0, err);
}

static int sq_script_version_put(ag_store_t *_s, const char *hash, const char *path, const char *source,
                                 ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    sqlite3_stmt *st = stmt(s, ST_SCRIPT_PUT);
    if (st == NULL)
        return db_error(s, err, "prepare script put");
    bind_text(st, 1, hash);
    bind_text(st, 2, path);
    bind_text(st, 3, source);
    sqlite3_bind_int64(st, 4, ag_now_ms());
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_error(s, err, "script put");
}

/* ---- agent records (the /api/v1/agents resource) --------------------------------------------------------------- */

static void read_agent(sqlite3_stmt *st, ag_agent_t *a)
{
    a->id = sqlite3_column_int64(st, 0);
    a->name = col_str(st, 1);
    a->domain = col_str(st, 2);
    a->script = col_str(st, 3);
    a->capabilities = col_str(st, 4);
    a->tools = col_str(st, 5);
    a->config = col_str(st, 6);
    a->status = col_str(st, 7);
    a->created_at = sqlite3_column_int64(st, 8);
    a->updated_at = sqlite3_column_int64(st, 9);
}

/* Binds n's fields as ?first .. ?first+6 (name, domain, script, capabilities, tools, config, status). */
static void bind_agent(sqlite3_stmt *st, int first, const ag_agent_new_t *n)
{
    bind_text(st, first, n->name);
    bind_text(st, first + 1, n->domain);
    bind_text(st, first + 2, n->script ? n->script : n->name);
    bind_text(st, first + 3, n->capabilities ? n->capabilities : "[]");
    bind_text(st, first + 4, n->tools ? n->tools : "[]");
    bind_text(st, first + 5, n->config ? n->config : "{}");
    bind_text(st, first + 6, n->status ? n->status : "active");
}

/* Runs a statement returning at most one agent row: 0, AG_ENOTFOUND, AG_EEXIST (a unique constraint) or AG_ESTORE. */
static int step_agent(sqlite_store_t *s, sqlite3_stmt *st, ag_agent_t *out, ag_err_t *err)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_agent(st, out);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        }
    }
    int ext = sqlite3_extended_errcode(s->db);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return out->name != NULL ? 0 : AG_ENOTFOUND;
    if (out->name != NULL)
        ag_agent_clear(out);
    if (ext == SQLITE_CONSTRAINT_UNIQUE)
        return ag_err_set(err, AG_EEXIST, "an agent with that name already exists in that domain");
    return db_error(s, err, "agent step");
}

static int sq_agent_create(ag_store_t *_s, const ag_agent_new_t *n, ag_agent_t *out, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = stmt(s, ST_AGENT_INSERT);
    if (st == NULL)
        return db_error(s, err, "prepare agent insert");
    bind_agent(st, 1, n);
    sqlite3_bind_int64(st, 8, ag_now_ms());
    int rc = step_agent(s, st, out, err);
    if (rc == AG_ENOTFOUND) /* ON CONFLICT DO NOTHING returned no row */
        rc = ag_err_set(err, AG_EEXIST, "domain '%s' already has an agent named '%s'", n->domain, n->name);
    return rc;
}

static int sq_agent_get(ag_store_t *_s, int64_t id, ag_agent_t *out, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = stmt(s, ST_AGENT_GET);
    if (st == NULL)
        return db_error(s, err, "prepare agent get");
    sqlite3_bind_int64(st, 1, id);
    int rc = step_agent(s, st, out, err);
    if (rc == AG_ENOTFOUND)
        ag_err_set(err, rc, "no agent %lld", (long long)id);
    return rc;
}

/* The list cursor is opaque to clients: base64url (no padding) of "agent:<last id>" (engine/b64url.h). */
static char *cursor_encode(int64_t id)
{
    ag_buf_t b;
    ag_buf_init(&b);
    ag_cursor_encode(&b, "agent:", id);
    return ag_buf_steal(&b);
}

/* 0 and *id, or AG_EINVAL. */
static int cursor_decode(const char *c, int64_t *id)
{
    int64_t v = ag_cursor_decode(c, "agent:");
    if (v <= 0)
        return AG_EINVAL;
    *id = v;
    return 0;
}

static int sq_agent_list(ag_store_t *_s, const char *domain, const char *status, const char *cursor, int limit,
                         ag_agent_t **out, size_t *n, char **next_cursor, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    *out = NULL;
    *n = 0;
    *next_cursor = NULL;
    int64_t after = 0;
    if (limit < 1 || limit > AG_AGENT_LIST_MAX)
        return ag_err_set(err, AG_EINVAL, "limit: must be an integer from 1 to %d", AG_AGENT_LIST_MAX);
    if (cursor != NULL && cursor_decode(cursor, &after) != 0)
        return ag_err_set(err, AG_EINVAL, "cursor: not a cursor this API returned");
    sqlite3_stmt *st = stmt(s, ST_AGENT_LIST);
    if (st == NULL)
        return db_error(s, err, "prepare agent list");
    sqlite3_bind_int64(st, 1, after);
    bind_text(st, 2, domain);
    bind_text(st, 3, status);
    sqlite3_bind_int(st, 4, limit + 1); /* one more than asked tells whether another page follows */
    ag_agent_t *items = ag_xcalloc((size_t)limit + 1, sizeof(*items));
    size_t got = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && got <= (size_t)limit)
        read_agent(st, &items[got++]);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        ag_agents_free(items, got);
        return db_error(s, err, "agent list");
    }
    if (got > (size_t)limit) {
        ag_agent_clear(&items[--got]);
        *next_cursor = cursor_encode(items[got - 1].id);
    }
    *out = items;
    *n = got;
    return 0;
}

static int sq_agent_replace(ag_store_t *_s, int64_t id, const ag_agent_new_t *n, ag_agent_t *out, int *was_paused,
                            ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    memset(out, 0, sizeof(*out));
    int rc;
    if ((rc = exec_simple(s, ST_BEGIN, err)) != 0)
        return rc;
    ag_agent_t prev = {0};
    if ((rc = sq_agent_get(_s, id, &prev, err)) != 0)
        goto fail;
    if (was_paused)
        *was_paused = strcmp(prev.status, "paused") == 0;
    ag_agent_clear(&prev);
    sqlite3_stmt *st = stmt(s, ST_AGENT_REPLACE);
    if (st == NULL) {
        rc = db_error(s, err, "prepare agent replace");
        goto fail;
    }
    sqlite3_bind_int64(st, 1, id);
    bind_agent(st, 2, n);
    sqlite3_bind_int64(st, 9, ag_now_ms());
    if ((rc = step_agent(s, st, out, err)) != 0) {
        if (rc == AG_EEXIST)
            ag_err_set(err, rc, "domain '%s' already has another agent named '%s'", n->domain, n->name);
        goto fail;
    }
    if ((rc = exec_simple(s, ST_COMMIT, err)) != 0) {
        ag_agent_clear(out);
        goto fail;
    }
    return 0;
fail:
    rollback(s);
    return rc;
}

static int sq_agent_delete(ag_store_t *_s, int64_t id, int force, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    int rc;
    if ((rc = exec_simple(s, ST_BEGIN, err)) != 0)
        return rc;
    ag_agent_t a = {0};
    if ((rc = sq_agent_get(_s, id, &a, err)) != 0)
        goto fail;
    if (!force) {
        sqlite3_stmt *st = stmt(s, ST_AGENT_RUNNING);
        if (st == NULL) {
            rc = db_error(s, err, "prepare agent running");
            goto fail;
        }
        bind_text(st, 1, a.domain);
        bind_text(st, 2, a.script);
        int step = sqlite3_step(st);
        int64_t running = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        if (step != SQLITE_ROW) {
            rc = db_error(s, err, "agent running");
            goto fail;
        }
        if (running > 0) {
            rc = ag_err_set(err, AG_ESTATE, "agent %lld has %lld running task(s); delete with ?force=true to "
                            "delete it anyway", (long long)id, (long long)running);
            goto fail;
        }
    }
    sqlite3_stmt *st = stmt(s, ST_AGENT_DELETE);
    if (st == NULL) {
        rc = db_error(s, err, "prepare agent delete");
        goto fail;
    }
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        rc = db_error(s, err, "agent delete");
        goto fail;
    }
    if ((rc = exec_simple(s, ST_COMMIT, err)) != 0)
        goto fail;
    ag_agent_clear(&a);
    return 0;
fail:
    rollback(s);
    ag_agent_clear(&a);
    return rc;
}

static int sq_agent_stats(ag_store_t *_s, int64_t id, ag_agent_stats_t *out, ag_err_t *err)
{
    sqlite_store_t *s = (sqlite_store_t *)_s;
    memset(out, 0, sizeof(*out));
    ag_agent_t a = {0};
    int rc = sq_agent_get(_s, id, &a, err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = stmt(s, ST_AGENT_COUNTS);
    if (st == NULL) {
        rc = db_error(s, err, "prepare agent counts");
        goto done;
    }
    bind_text(st, 1, a.domain);
    bind_text(st, 2, a.script);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        int64_t k = sqlite3_column_int64(st, 1);
        if (strcmp(state, "running") == 0)
            out->running += k;
        else if (strcmp(state, "succeeded") == 0)
            out->succeeded += k;
        else
            out->failed += k;
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        rc = db_error(s, err, "agent counts");
        goto done;
    }
    st = stmt(s, ST_AGENT_LAST_ERROR);
    if (st == NULL) {
        rc = db_error(s, err, "prepare agent last error");
        goto done;
    }
    bind_text(st, 1, a.domain);
    bind_text(st, 2, a.script);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        out->last_error = col_str(st, 0);
        out->last_error_at = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        ag_agent_stats_clear(out);
        rc = db_error(s, err, "agent last error");
    }
done:
    ag_agent_clear(&a);
    return rc;
}

/*
 * Writers of this process take one mutex around each write transaction. SQLite allows one writer at a
 * time anyway; its busy handler makes the others sleep and retry (1, 2, 5, 10 ms ...), which under load
 * turns into convoys. A mutex hands the write lock over at once. busy_timeout still covers other
 * processes sharing the file.
 */
static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;

void ag__sqlite_write_lock(void)
{
    pthread_mutex_lock(&write_mu);
}

void ag__sqlite_write_unlock(void)
{
    pthread_mutex_unlock(&write_mu);
}

sqlite3 *ag__sqlite_db(ag_store_t *s)
{
    return ((sqlite_store_t *)s)->db;
}

#define LOCKED(name, params, args)                                                                                    \
    static int name##_locked params                                                                                   \
    {                                                                                                                 \
        pthread_mutex_lock(&write_mu);                                                                                \
        int rc = name args;                                                                                           \
        pthread_mutex_unlock(&write_mu);                                                                              \
        return rc;                                                                                                    \
    }

LOCKED(sq_migrate, (ag_store_t * s, int *applied, ag_err_t *err), (s, applied, err))
LOCKED(sq_task_create, (ag_store_t * s, const ag_task_new_t *n, ag_task_t *out, int *existed, ag_err_t *err),
       (s, n, out, existed, err))
LOCKED(sq_task_create_batch,
       (ag_store_t * s, const ag_task_new_t *n, size_t count, ag_task_t *out, int *existed, int *rcs, ag_err_t *err),
       (s, n, count, out, existed, rcs, err))
LOCKED(sq_event_add,
       (ag_store_t * s, const char *type, const char *domain, const char *data, int64_t *id, ag_err_t *err),
       (s, type, domain, data, id, err))
LOCKED(sq_task_execute, (ag_store_t * s, int64_t id, ag_task_t *out, ag_err_t *err), (s, id, out, err))
LOCKED(sq_task_cancel, (ag_store_t * s, int64_t id, ag_task_t *out, int *requested, ag_err_t *err),
       (s, id, out, requested, err))
LOCKED(sq_sync,
       (ag_store_t * s, const ag_outcome_t *done, size_t ndone, const char *owner, int max, int lease_ms,
        ag_claim_t **claimed, size_t *nclaimed, ag_err_t *err),
       (s, done, ndone, owner, max, lease_ms, claimed, nclaimed, err))
LOCKED(sq_heartbeat,
       (ag_store_t * s, const char *owner, const int64_t *ids, size_t n, int lease_ms, int64_t **cancel,
        size_t *ncancel, ag_err_t *err),
       (s, owner, ids, n, lease_ms, cancel, ncancel, err))
LOCKED(sq_recover, (ag_store_t * s, size_t *recovered, ag_err_t *err), (s, recovered, err))
LOCKED(sq_task_retry, (ag_store_t * s, int64_t id, ag_task_t *out, ag_err_t *err), (s, id, out, err))
LOCKED(sq_kv_set,
       (ag_store_t * s, const char *domain, const char *key, const char *value, int64_t ttl_ms, ag_err_t *err),
       (s, domain, key, value, ttl_ms, err))
LOCKED(sq_kv_del, (ag_store_t * s, const char *domain, const char *key, ag_err_t *err), (s, domain, key, err))
LOCKED(sq_script_version_put, (ag_store_t * s, const char *hash, const char *path, const char *source, ag_err_t *err),
       (s, hash, path, source, err))

LOCKED(sq_agent_create, (ag_store_t * s, const ag_agent_new_t *n, ag_agent_t *out, ag_err_t *err), (s, n, out, err))
LOCKED(sq_agent_replace,
       (ag_store_t * s, int64_t id, const ag_agent_new_t *n, ag_agent_t *out, int *was_paused, ag_err_t *err),
       (s, id, n, out, was_paused, err))
LOCKED(sq_agent_delete, (ag_store_t * s, int64_t id, int force, ag_err_t *err), (s, id, force, err))

static const ag_store_ops_t sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .migrate = sq_migrate_locked,
    .ping = sq_ping,
    .task_create = sq_task_create_locked,
    .task_create_batch = sq_task_create_batch_locked,
    .task_get = sq_task_get,
    .task_execute = sq_task_execute_locked,
    .task_cancel = sq_task_cancel_locked,
    .task_events = sq_task_events,
    .task_list = sq_task_list,
    .task_retry = sq_task_retry_locked,
    .sync = sq_sync_locked,
    .heartbeat = sq_heartbeat_locked,
    .recover = sq_recover_locked,
    .next_due = sq_next_due,
    .task_counts = sq_task_counts,
    .events_after = sq_events_after,
    .event_add = sq_event_add_locked,
    .events_last_id = sq_events_last_id,
    .kv_get = sq_kv_get,
    .kv_set = sq_kv_set_locked,
    .kv_del = sq_kv_del_locked,
    .kv_list = ag__sq_kv_list,
    .kv_incr = ag__sq_kv_incr, /* store_sqlite_kv.c */
    .script_version_put = sq_script_version_put_locked,
    .agent_create = sq_agent_create_locked,
    .agent_get = sq_agent_get,
    .agent_list = sq_agent_list,
    .agent_replace = sq_agent_replace_locked,
    .agent_delete = sq_agent_delete_locked,
    .agent_stats = sq_agent_stats,
    .task_finish_waiting = ag__sq_task_finish_waiting,
    .webhook_sub_create = ag__sq_webhook_sub_create,
    .webhook_sub_get = ag__sq_webhook_sub_get,
    .webhook_sub_list = ag__sq_webhook_sub_list,
    .webhook_sub_replace = ag__sq_webhook_sub_replace,
    .webhook_sub_delete = ag__sq_webhook_sub_delete,
    .webhook_enqueue = ag__sq_webhook_enqueue,
    .webhook_claim = ag__sq_webhook_claim,
    .webhook_record = ag__sq_webhook_record,
    .webhook_deliveries = ag__sq_webhook_deliveries,
    .llm_calls_add = ag__sq_llm_calls_add,
    .llm_call_find = ag__sq_llm_call_find,
    .llm_calls_list = ag__sq_llm_calls_list,
    .llm_spend = ag__sq_llm_spend,
    .workflow_create = ag__sq_workflow_create,
    .workflow_get = ag__sq_workflow_get,
    .workflow_list = ag__sq_workflow_list,
    .workflow_cancel = ag__sq_workflow_cancel,
    .handoff_list = ag__sq_handoff_list,
    .approval_get = ag__sq_approval_get,
    .task_approve = ag__sq_task_approve,
};

/* Creates the directory that will hold path's file, when there is one to create (var/ on a fresh checkout). */
static void make_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL || slash == path)
        return;
    char dir[1024];
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    for (char *p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
    }
    mkdir(dir, 0755);
}

static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

/* Each connection is used by one thread: SQLite's own per-connection mutexes and its allocation
 * statistics (one more global mutex per malloc) only cost time. */
static void sqlite_configure(void)
{
    sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int ag_store_sqlite_open(ag_store_t **out, const char *path, ag_err_t *err)
{
    pthread_once(&sqlite_once, sqlite_configure);
    if (*path == '\0')
        return ag_err_set(err, AG_ECONFIG, "AGENCY_DATABASE_URL: sqlite: needs a path");
    sqlite_store_t *s = ag_xcalloc(1, sizeof(*s));
    s->super.ops = &sqlite_ops;
    if (strcmp(path, ":memory:") != 0)
        make_parent_dir(path);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        ag_err_set(err, AG_ESTORE, "cannot open sqlite database %s: %s", path,
                   s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sqlite3_close(s->db);
        free(s);
        return AG_ESTORE;
    }
    sqlite3_busy_timeout(s->db, 10000);
    char *errmsg = NULL;
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                     "PRAGMA mmap_size=268435456",
                     NULL, NULL, &errmsg) != SQLITE_OK) {
        ag_err_set(err, AG_ESTORE, "sqlite %s: %s", path, errmsg ? errmsg : "pragma failed");
        sqlite3_free(errmsg);
        sqlite3_close(s->db);
        free(s);
        return AG_ESTORE;
    }
    *out = &s->super;
    return 0;
}
