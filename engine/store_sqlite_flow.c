/*
 * store_sqlite_flow.c: the SQLite backend's workflows, handoffs and approvals (migration 0009). See
 * store.h for the contracts.
 *
 * What a finished run implies — its handoffs with their target tasks, its approval request, the end of
 * its workflow — is written by ag__sq_apply_flow inside sync's transaction, right after the run's
 * outcome: a crash loses all of it or none, and UNIQUE (source_task_id, name) keeps a re-run from
 * handing off twice. Statements are cached per connection (slots AG_SQ_SLOT_FLOW + n).
 */
#include <string.h>

#include "buf.h"
#include "store_sqlite_int.h"

#define WF_COLS "id, start_type, start_domain, status, input, created_at, updated_at, finished_at"
#define HO_COLS                                                                                                       \
    "id, name, from_domain, to_domain, to_type, source_task_id, target_task_id, workflow_id, status, reasons, "        \
    "package, created_at"
#define LIVE "('pending', 'queued', 'running', 'failed', 'waiting')"

enum {
    S_HANDOFF_ADD,
    S_TASK_ADD,
    S_HANDOFF_TARGET,
    S_EVENT,
    S_APPROVAL_ADD,
    S_WF_COUNTS,
    S_WF_FINISH,
    S_WF_STATUS,
    S_WF_ADD,
    S_WF_GET,
    S_WF_LIST,
    S_WF_CANCEL_TASKS,
    S_WF_STOP_TASKS,
    S_WF_CANCEL,
    S_HO_LIST,
    S_AP_GET,
    S_AP_DECIDE,
    S_AP_REQUEUE,
    S_TASK_STATE,
    S_WF_IDLE,
    S_AP_LATEST,
};

static const char *sql_text[] = {
    [S_HANDOFF_ADD] = "INSERT INTO handoffs (name, from_domain, to_domain, to_type, source_task_id, workflow_id, "
                      "status, reasons, package, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
                      "ON CONFLICT (source_task_id, name) DO NOTHING RETURNING id",
    [S_TASK_ADD] = "INSERT INTO tasks (type, domain, agent, state, priority, input, max_attempts, run_at, created_at, "
                   "updated_at, workflow_id) VALUES (?1, ?2, ?3, 'queued', 0, ?4, ?5, ?6, ?6, ?6, ?7) RETURNING id",
    [S_HANDOFF_TARGET] = "UPDATE handoffs SET target_task_id = ?2 WHERE id = ?1",
    [S_EVENT] = "INSERT INTO events (type, domain, data, at) VALUES (?1, ?2, ?3, ?4)",
    [S_APPROVAL_ADD] = "INSERT INTO approvals (task_id, seq, reason, data, status, requested_at) "
                       "VALUES (?1, ?2, ?3, ?4, 'pending', ?5) ON CONFLICT (task_id, seq) DO NOTHING",
    [S_WF_COUNTS] = "SELECT count(*) FILTER (WHERE state IN " LIVE "), count(*) FILTER (WHERE state = 'dead') "
                    "FROM tasks WHERE workflow_id = ?1",
    [S_WF_FINISH] = "UPDATE workflows SET status = ?2, finished_at = ?3, updated_at = ?3 WHERE id = ?1 AND "
                    "status = 'running' RETURNING start_domain",
    [S_WF_STATUS] = "SELECT status FROM workflows WHERE id = ?1",
    [S_WF_ADD] = "INSERT INTO workflows (start_type, start_domain, input, created_at, updated_at) "
                 "VALUES (?1, ?2, ?3, ?4, ?4) RETURNING id",
    [S_WF_GET] = "SELECT " WF_COLS " FROM workflows WHERE id = ?1",
    [S_WF_LIST] = "SELECT " WF_COLS " FROM workflows WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR "
                  "start_domain = ?2) AND (?3 = 0 OR id < ?3) ORDER BY id DESC LIMIT ?4",
    [S_WF_CANCEL_TASKS] = "UPDATE tasks SET state = 'cancelled', finished_at = ?2, updated_at = ?2, "
                          "error = 'the workflow was cancelled' WHERE workflow_id = ?1 AND state IN "
                          "('pending', 'queued', 'failed', 'waiting')",
    [S_WF_STOP_TASKS] = "UPDATE tasks SET cancel_requested = 1, updated_at = ?2 WHERE workflow_id = ?1 AND "
                        "state = 'running'",
    [S_WF_CANCEL] = "UPDATE workflows SET status = 'cancelled', finished_at = ?2, updated_at = ?2 WHERE id = ?1 AND "
                    "status = 'running'",
    [S_HO_LIST] = "SELECT " HO_COLS " FROM handoffs WHERE (?1 IS NULL OR from_domain = ?1) AND (?2 IS NULL OR "
                  "to_domain = ?2) AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR workflow_id = ?4) AND id > ?5 "
                  "ORDER BY id LIMIT ?6",
    [S_AP_GET] = "SELECT task_id, seq, reason, data, status, comment, decided_by, requested_at, decided_at "
                 "FROM approvals WHERE task_id = ?1 AND seq = ?2",
    [S_AP_LATEST] = "SELECT task_id, seq, reason, data, status, comment, decided_by, requested_at, decided_at "
                    "FROM approvals WHERE task_id = ?1 ORDER BY seq DESC LIMIT 1",
    [S_AP_DECIDE] = "UPDATE approvals SET status = ?2, comment = ?3, decided_by = ?4, decided_at = ?5 WHERE "
                    "task_id = ?1 AND status = 'pending' RETURNING seq, reason",
    [S_AP_REQUEUE] = "UPDATE tasks SET state = 'queued', run_at = ?2, updated_at = ?2, max_attempts = max_attempts + 1 "
                     "WHERE id = ?1 AND state = 'waiting' RETURNING domain",
    [S_TASK_STATE] = "SELECT state FROM tasks WHERE id = ?1",
    [S_WF_IDLE] = "SELECT id FROM workflows w WHERE status = 'running' AND NOT EXISTS (SELECT 1 FROM tasks WHERE "
                  "workflow_id = CAST(w.id AS TEXT) AND state IN " LIVE ") LIMIT 1000",
};

static sqlite3_stmt *prep(ag_store_t *s, int k)
{
    return ag__sqlite_stmt(s, AG_SQ_SLOT_FLOW + k, sql_text[k]);
}

/* Steps a write statement to its end (rows it returns are ignored); 0 or AG_ESTORE. */
static int run(ag_store_t *s, sqlite3_stmt *st, const char *what, ag_err_t *err)
{
    if (st == NULL)
        return sq_db_error(ag__sqlite_db(s), err, what);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : sq_db_error(ag__sqlite_db(s), err, what);
}

static int event(ag_store_t *s, const char *type, const char *domain, const char *data, int64_t now, ag_err_t *err)
{
    sqlite3_stmt *st = prep(s, S_EVENT);
    if (st) {
        sq_bind_text(st, 1, type);
        sq_bind_text(st, 2, domain);
        sq_bind_text(st, 3, data);
        sqlite3_bind_int64(st, 4, now);
    }
    return run(s, st, "event", err);
}

/* The workflow id of a task as an integer, 0 when it is none of ours (a client-chosen label). */
static int64_t wf_num(const char *wf)
{
    if (wf == NULL || *wf == '\0' || *wf == '0')
        return 0;
    int64_t v = 0;
    for (const char *p = wf; *p; p++) {
        if (*p < '0' || *p > '9' || v > INT64_MAX / 10 - 10)
            return 0;
        v = v * 10 + (*p - '0');
    }
    return v;
}

int ag__sq_workflow_check(ag_store_t *s, const char *wf, int64_t now, ag_err_t *err)
{
    int64_t id = wf_num(wf);
    if (id == 0)
        return 0;
    sqlite3_stmt *st = prep(s, S_WF_COUNTS);
    if (st == NULL)
        return sq_db_error(ag__sqlite_db(s), err, "prepare workflow counts");
    sq_bind_text(st, 1, wf);
    int64_t live = 1, dead = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        live = sqlite3_column_int64(st, 0);
        dead = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (live > 0)
        return 0;
    const char *status = dead > 0 ? "failed" : "completed";
    st = prep(s, S_WF_FINISH);
    if (st == NULL)
        return sq_db_error(ag__sqlite_db(s), err, "prepare workflow finish");
    sqlite3_bind_int64(st, 1, id);
    sq_bind_text(st, 2, status);
    sqlite3_bind_int64(st, 3, now);
    char *domain = NULL;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        domain = sq_col_str(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_db_error(ag__sqlite_db(s), err, "workflow finish");
    if (domain == NULL)
        return 0; /* not running (cancelled, already finished) */
    char data[160], type[40];
    snprintf(data, sizeof(data), "{\"workflow_id\":%lld,\"status\":\"%s\",\"dead_tasks\":%lld}", (long long)id, status,
             (long long)dead);
    snprintf(type, sizeof(type), "workflow.%s", status);
    rc = event(s, type, domain, data, now, err);
    free(domain);
    return rc;
}

int ag__sq_workflows_sweep(ag_store_t *s, int64_t now, ag_err_t *err)
{
    sqlite3_stmt *st = prep(s, S_WF_IDLE);
    if (st == NULL)
        return sq_db_error(ag__sqlite_db(s), err, "prepare workflow sweep");
    int64_t ids[1000];
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < 1000)
        ids[n++] = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return sq_db_error(ag__sqlite_db(s), err, "workflow sweep");
    for (size_t i = 0; i < n; i++) {
        char wf[24];
        snprintf(wf, sizeof(wf), "%lld", (long long)ids[i]);
        if ((rc = ag__sq_workflow_check(s, wf, now, err)) != 0)
            return rc;
    }
    return 0;
}

static int add_handoff(ag_store_t *s, const ag_outcome_t *o, const ag_handoff_new_t *h, int cancelled, int64_t now,
                       ag_err_t *err)
{
    int accepted = h->accepted && !cancelled;
    const char *reasons = cancelled && h->accepted ? "[\"the workflow was cancelled\"]" : h->reasons;
    sqlite3_stmt *st = prep(s, S_HANDOFF_ADD);
    if (st == NULL)
        return sq_db_error(ag__sqlite_db(s), err, "prepare handoff");
    sq_bind_text(st, 1, h->name);
    sq_bind_text(st, 2, h->from_domain);
    sq_bind_text(st, 3, h->to_domain);
    sq_bind_text(st, 4, h->to_type);
    sqlite3_bind_int64(st, 5, o->id);
    sq_bind_text(st, 6, o->workflow_id);
    sq_bind_text(st, 7, accepted ? "accepted" : "rejected");
    sq_bind_text(st, 8, accepted ? NULL : (reasons ? reasons : "[]"));
    sq_bind_text(st, 9, accepted ? h->input : NULL);
    sqlite3_bind_int64(st, 10, now);
    int rc = sqlite3_step(st);
    int64_t hid = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_db_error(ag__sqlite_db(s), err, "handoff");
    if (hid == 0)
        return 0; /* this source task already handed off this way */
    int64_t target = 0;
    if (accepted) {
        st = prep(s, S_TASK_ADD);
        if (st == NULL)
            return sq_db_error(ag__sqlite_db(s), err, "prepare handoff task");
        sq_bind_text(st, 1, h->to_type);
        sq_bind_text(st, 2, h->to_domain);
        sq_bind_text(st, 3, h->to_agent);
        sq_bind_text(st, 4, h->input);
        sqlite3_bind_int(st, 5, h->max_attempts > 0 ? h->max_attempts : 3);
        sqlite3_bind_int64(st, 6, now);
        sq_bind_text(st, 7, o->workflow_id);
        rc = sqlite3_step(st);
        target = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        if (target == 0)
            return sq_db_error(ag__sqlite_db(s), err, "handoff task");
        st = prep(s, S_HANDOFF_TARGET);
        if (st) {
            sqlite3_bind_int64(st, 1, hid);
            sqlite3_bind_int64(st, 2, target);
        }
        if ((rc = run(s, st, "handoff target", err)) != 0)
            return rc;
    }
    ag_buf_t b;
    ag_buf_init(&b);
    ag_buf_printf(&b, "{\"handoff_id\":%lld,\"name\":", (long long)hid);
    ag_buf_json_strz(&b, h->name);
    ag_buf_puts(&b, ",\"from\":");
    ag_buf_json_strz(&b, h->from_domain);
    ag_buf_puts(&b, ",\"to\":");
    ag_buf_json_strz(&b, h->to_type);
    ag_buf_printf(&b, ",\"source_task_id\":%lld,\"target_task_id\":", (long long)o->id);
    if (target)
        ag_buf_printf(&b, "%lld", (long long)target);
    else
        ag_buf_puts(&b, "null");
    ag_buf_puts(&b, ",\"workflow_id\":");
    if (o->workflow_id)
        ag_buf_json_strz(&b, o->workflow_id);
    else
        ag_buf_puts(&b, "null");
    ag_buf_puts(&b, ",\"reasons\":");
    ag_buf_puts(&b, accepted ? "[]" : (reasons ? reasons : "[]"));
    ag_buf_putc(&b, '}');
    ag_buf_putc(&b, '\0');
    rc = event(s, accepted ? "handoff.accepted" : "handoff.rejected", h->from_domain, b.data, now, err);
    ag_buf_free(&b);
    return rc;
}

int ag__sq_apply_flow(ag_store_t *s, const ag_outcome_t *o, int64_t now, ag_err_t *err)
{
    int rc = 0;
    if (o->state == AG_TASK_SUCCEEDED && o->nhandoffs > 0) {
        int cancelled = 0;
        int64_t wid = wf_num(o->workflow_id);
        if (wid) {
            sqlite3_stmt *st = prep(s, S_WF_STATUS);
            if (st == NULL)
                return sq_db_error(ag__sqlite_db(s), err, "prepare workflow status");
            sqlite3_bind_int64(st, 1, wid);
            if (sqlite3_step(st) == SQLITE_ROW) {
                const char *status = (const char *)sqlite3_column_text(st, 0);
                cancelled = status && strcmp(status, "cancelled") == 0;
            }
            sqlite3_reset(st);
        }
        for (size_t i = 0; i < o->nhandoffs && rc == 0; i++)
            rc = add_handoff(s, o, &o->handoffs[i], cancelled, now, err);
    }
    if (rc == 0 && o->state == AG_TASK_WAITING && o->approval) {
        sqlite3_stmt *st = prep(s, S_APPROVAL_ADD);
        if (st) {
            sqlite3_bind_int64(st, 1, o->id);
            sqlite3_bind_int(st, 2, o->approval->seq);
            sq_bind_text(st, 3, o->approval->reason);
            sq_bind_text(st, 4, o->approval->data);
            sqlite3_bind_int64(st, 5, now);
        }
        rc = run(s, st, "approval", err);
    }
    if (rc == 0 && ag_task_state_terminal(o->state) && o->workflow_id)
        rc = ag__sq_workflow_check(s, o->workflow_id, now, err);
    return rc;
}

/* ---- workflows ------------------------------------------------------------------------------------------------ */

static void read_wf(sqlite3_stmt *st, ag_workflow_t *w)
{
    w->id = sqlite3_column_int64(st, 0);
    w->start_type = sq_col_str(st, 1);
    w->start_domain = sq_col_str(st, 2);
    w->status = sq_col_str(st, 3);
    w->input = sq_col_str(st, 4);
    w->created_at = sqlite3_column_int64(st, 5);
    w->updated_at = sqlite3_column_int64(st, 6);
    w->finished_at = sqlite3_column_int64(st, 7);
}

int ag__sq_workflow_get(ag_store_t *s, int64_t id, ag_workflow_t *out, ag_err_t *err)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = prep(s, S_WF_GET);
    if (st == NULL)
        return sq_db_error(ag__sqlite_db(s), err, "prepare workflow get");
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        read_wf(st, out);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return ag_err_set(err, AG_ENOTFOUND, "no workflow %lld", (long long)id);
    return rc == SQLITE_ROW ? 0 : sq_db_error(ag__sqlite_db(s), err, "workflow get");
}

int ag__sq_workflow_create(ag_store_t *s, const char *type, const char *domain, const char *agent, int max_attempts,
                           const char *input, ag_workflow_t *out, int64_t *task_id, ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    memset(out, 0, sizeof(*out));
    int rc = sq_begin(db, err);
    if (rc != 0)
        return rc;
    int64_t now = ag_now_ms(), wid = 0;
    sqlite3_stmt *st = prep(s, S_WF_ADD);
    if (st == NULL) {
        rc = sq_db_error(db, err, "prepare workflow add");
        return sq_finish(db, rc, err);
    }
    sq_bind_text(st, 1, type);
    sq_bind_text(st, 2, domain);
    sq_bind_text(st, 3, input);
    sqlite3_bind_int64(st, 4, now);
    if (sqlite3_step(st) == SQLITE_ROW)
        wid = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (wid == 0)
        return sq_finish(db, sq_db_error(db, err, "workflow add"), err);
    char wf[24];
    snprintf(wf, sizeof(wf), "%lld", (long long)wid);
    st = prep(s, S_TASK_ADD);
    if (st == NULL)
        return sq_finish(db, sq_db_error(db, err, "prepare workflow task"), err);
    sq_bind_text(st, 1, type);
    sq_bind_text(st, 2, domain);
    sq_bind_text(st, 3, agent);
    sq_bind_text(st, 4, input);
    sqlite3_bind_int(st, 5, max_attempts > 0 ? max_attempts : 3);
    sqlite3_bind_int64(st, 6, now);
    sq_bind_text(st, 7, wf);
    *task_id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (*task_id == 0)
        return sq_finish(db, sq_db_error(db, err, "workflow task"), err);
    char data[120];
    snprintf(data, sizeof(data), "{\"workflow_id\":%lld,\"task_id\":%lld}", (long long)wid, (long long)*task_id);
    if ((rc = event(s, "workflow.started", domain, data, now, err)) != 0)
        return sq_finish(db, rc, err);
    if ((rc = sq_finish(db, 0, err)) != 0)
        return rc;
    return ag__sq_workflow_get(s, wid, out, err);
}

int ag__sq_workflow_list(ag_store_t *s, const char *status, const char *domain, int64_t before_id, int limit,
                         ag_workflow_t **out, size_t *n, ag_err_t *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = prep(s, S_WF_LIST);
    if (st == NULL)
        return sq_db_error(ag__sqlite_db(s), err, "prepare workflow list");
    sq_bind_text(st, 1, status);
    sq_bind_text(st, 2, domain);
    sqlite3_bind_int64(st, 3, before_id);
    sqlite3_bind_int(st, 4, limit);
    ag_workflow_t *w = ag_xcalloc((size_t)(limit > 0 ? limit : 1), sizeof(*w));
    size_t k = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && k < (size_t)limit)
        read_wf(st, &w[k++]);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        for (size_t i = 0; i < k; i++)
            ag_workflow_clear(&w[i]);
        free(w);
        return sq_db_error(ag__sqlite_db(s), err, "workflow list");
    }
    *out = w;
    *n = k;
    return 0;
}

int ag__sq_workflow_cancel(ag_store_t *s, int64_t id, ag_workflow_t *out, size_t *running, ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    *running = 0;
    int rc = ag__sq_workflow_get(s, id, out, err);
    if (rc != 0)
        return rc;
    if (strcmp(out->status, "running") != 0)
        return ag_err_set(err, AG_ESTATE, "workflow %lld is %s; only a running workflow can be cancelled",
                          (long long)id, out->status);
    char *domain = out->start_domain; /* the workflow.cancelled event's domain */
    out->start_domain = NULL;
    ag_workflow_clear(out);
    if ((rc = sq_begin(db, err)) != 0) {
        free(domain);
        return rc;
    }
    int64_t now = ag_now_ms();
    char wf[24];
    snprintf(wf, sizeof(wf), "%lld", (long long)id);
    sqlite3_stmt *st = prep(s, S_WF_CANCEL);
    if (st) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, now);
    }
    rc = run(s, st, "workflow cancel", err);
    int changed = rc == 0 ? sqlite3_changes(db) : 0;
    if (rc == 0 && changed) {
        st = prep(s, S_WF_CANCEL_TASKS);
        if (st) {
            sq_bind_text(st, 1, wf);
            sqlite3_bind_int64(st, 2, now);
        }
        rc = run(s, st, "workflow cancel tasks", err);
    }
    if (rc == 0 && changed) {
        st = prep(s, S_WF_STOP_TASKS);
        if (st) {
            sq_bind_text(st, 1, wf);
            sqlite3_bind_int64(st, 2, now);
        }
        rc = run(s, st, "workflow stop tasks", err);
        if (rc == 0)
            *running = (size_t)sqlite3_changes(db);
    }
    if (rc == 0 && changed) {
        char data[80];
        snprintf(data, sizeof(data), "{\"workflow_id\":%lld,\"status\":\"cancelled\"}", (long long)id);
        rc = event(s, "workflow.cancelled", domain, data, now, err);
    }
    free(domain);
    if ((rc = sq_finish(db, rc, err)) != 0)
        return rc;
    if ((rc = ag__sq_workflow_get(s, id, out, err)) != 0)
        return rc;
    if (!changed)
        return ag_err_set(err, AG_ESTATE, "workflow %lld is %s; only a running workflow can be cancelled",
                          (long long)id, out->status);
    return 0;
}

/* ---- handoffs ----------------------------------------------------------------------------------------------- */

int ag__sq_handoff_list(ag_store_t *s, const ag_handoff_filter_t *f, int64_t after_id, int limit, ag_handoff_t **out,
                        size_t *n, ag_err_t *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = prep(s, S_HO_LIST);
    if (st == NULL)
        return sq_db_error(ag__sqlite_db(s), err, "prepare handoff list");
    sq_bind_text(st, 1, f ? f->from_domain : NULL);
    sq_bind_text(st, 2, f ? f->to_domain : NULL);
    sq_bind_text(st, 3, f ? f->status : NULL);
    sq_bind_text(st, 4, f ? f->workflow_id : NULL);
    sqlite3_bind_int64(st, 5, after_id);
    sqlite3_bind_int(st, 6, limit);
    ag_handoff_t *h = ag_xcalloc((size_t)(limit > 0 ? limit : 1), sizeof(*h));
    size_t k = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && k < (size_t)limit) {
        ag_handoff_t *x = &h[k++];
        x->id = sqlite3_column_int64(st, 0);
        x->name = sq_col_str(st, 1);
        x->from_domain = sq_col_str(st, 2);
        x->to_domain = sq_col_str(st, 3);
        x->to_type = sq_col_str(st, 4);
        x->source_task_id = sqlite3_column_int64(st, 5);
        x->target_task_id = sqlite3_column_int64(st, 6);
        x->workflow_id = sq_col_str(st, 7);
        x->status = sq_col_str(st, 8);
        x->reasons = sq_col_str(st, 9);
        x->package = sq_col_str(st, 10);
        x->created_at = sqlite3_column_int64(st, 11);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        ag_handoffs_free(h, k);
        return sq_db_error(ag__sqlite_db(s), err, "handoff list");
    }
    *out = h;
    *n = k;
    return 0;
}

/* ---- approvals ---------------------------------------------------------------------------------------------- */

int ag__sq_approval_get(ag_store_t *s, int64_t task_id, int seq, ag_approval_t *out, ag_err_t *err)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = prep(s, seq > 0 ? S_AP_GET : S_AP_LATEST);
    if (st == NULL)
        return sq_db_error(ag__sqlite_db(s), err, "prepare approval get");
    sqlite3_bind_int64(st, 1, task_id);
    if (seq > 0)
        sqlite3_bind_int(st, 2, seq);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->task_id = sqlite3_column_int64(st, 0);
        out->seq = sqlite3_column_int(st, 1);
        out->reason = sq_col_str(st, 2);
        out->data = sq_col_str(st, 3);
        out->status = sq_col_str(st, 4);
        out->comment = sq_col_str(st, 5);
        out->decided_by = sq_col_str(st, 6);
        out->requested_at = sqlite3_column_int64(st, 7);
        out->decided_at = sqlite3_column_int64(st, 8);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return seq > 0 ? ag_err_set(err, AG_ENOTFOUND, "task %lld has no approval %d", (long long)task_id, seq)
                       : ag_err_set(err, AG_ENOTFOUND, "task %lld has asked for no approval", (long long)task_id);
    return rc == SQLITE_ROW ? 0 : sq_db_error(ag__sqlite_db(s), err, "approval get");
}

int ag__sq_task_approve(ag_store_t *s, int64_t id, int approve, const char *comment, const char *by, ag_task_t *out,
                        ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    memset(out, 0, sizeof(*out));
    int rc = sq_begin(db, err);
    if (rc != 0)
        return rc;
    int64_t now = ag_now_ms();
    int ok = 0;
    char *domain = NULL; /* the task's, for the task.approval_decided event */
    sqlite3_stmt *st = prep(s, S_AP_DECIDE);
    if (st == NULL)
        return sq_finish(db, sq_db_error(db, err, "prepare approve"), err);
    sqlite3_bind_int64(st, 1, id);
    sq_bind_text(st, 2, approve ? "approved" : "rejected");
    sq_bind_text(st, 3, comment);
    sq_bind_text(st, 4, by);
    sqlite3_bind_int64(st, 5, now);
    int step = sqlite3_step(st);
    int seq = step == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    char *reason = step == SQLITE_ROW ? sq_col_str(st, 1) : NULL;
    while (step == SQLITE_ROW)
        step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        rc = sq_db_error(db, err, "approve");
    if (rc == 0 && seq > 0) {
        st = prep(s, S_AP_REQUEUE);
        if (st == NULL) {
            rc = sq_db_error(db, err, "prepare approve requeue");
        } else {
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, now);
            step = sqlite3_step(st);
            if (step == SQLITE_ROW) {
                ok = 1;
                domain = sq_col_str(st, 0);
                step = sqlite3_step(st);
            }
            sqlite3_reset(st);
            if (step != SQLITE_DONE) {
                ok = 0;
                rc = sq_db_error(db, err, "approve requeue");
            }
        }
    }
    if (rc == 0 && ok) {
        ag_buf_t b;
        ag_buf_init(&b);
        ag_buf_printf(&b, "{\"task_id\":%lld,\"seq\":%d,\"decision\":\"%s\",\"reason\":", (long long)id, seq,
                      approve ? "approved" : "rejected");
        ag_buf_json_strz(&b, reason ? reason : "");
        ag_buf_puts(&b, ",\"comment\":");
        if (comment)
            ag_buf_json_strz(&b, comment);
        else
            ag_buf_puts(&b, "null");
        ag_buf_puts(&b, ",\"by\":");
        if (by)
            ag_buf_json_strz(&b, by);
        else
            ag_buf_puts(&b, "null");
        ag_buf_putc(&b, '}');
        ag_buf_putc(&b, '\0');
        rc = event(s, "task.approval_decided", domain, b.data, now, err);
        ag_buf_free(&b);
    }
    free(reason);
    free(domain);
    /* nothing decided: roll back (a decided approval without a requeue would strand the task) */
    rc = sq_finish(db, rc == 0 && !ok ? AG_ESTATE : rc, err);
    if (rc != 0 && rc != AG_ESTATE)
        return rc;
    int grc = s->ops->task_get(s, id, out, err);
    if (grc != 0)
        return grc;
    if (!ok)
        return ag_err_set(err, AG_ESTATE, "task %lld is %s; only a task waiting for an approval can be approved or "
                          "rejected", (long long)id, ag_task_state_name(out->state));
    return 0;
}
