/*
 * store_sqlite_webhooks.c: the SQLite backend's ops for outgoing webhooks (subscriptions, the delivery
 * log) and for ending a waiting task (incoming webhooks). See store.h for the contracts.
 *
 * These run rarely next to claims (an API call, or the delivery thread's tick every ~200 ms), so their
 * statements are prepared per call. Writes take the backend's process-wide write mutex and run in one
 * BEGIN IMMEDIATE transaction each. The delivery thread checks cheaply, without a transaction, whether
 * there is anything to do before it takes the write lock.
 */
#include <string.h>

#include "events.h"
#include "store_sqlite_int.h"

#define SUB_COLS "id, url, events, secret, active, created_at, updated_at"
#define DELIVERY_COLS                                                                                                 \
    "id, subscription_id, event_id, attempt, status, http_status, error, next_attempt_at, created_at, delivered_at"

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    return st;
}

/* ---- waiting tasks -------------------------------------------------------------------------------------------- */

int ag__sq_task_finish_waiting(ag_store_t *s, int64_t id, int succeeded, const char *result, const char *error,
                               int64_t retry_at, ag_task_t *out, ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    memset(out, 0, sizeof(*out));
    int rc = sq_begin(db, err);
    if (rc != 0)
        return rc;
    /* The transition trigger (0004) records the event, with the error as detail for failed/dead. */
    const char *sql =
        succeeded
            ? "UPDATE tasks SET state = 'succeeded', result = ?2, error = NULL, finished_at = ?3, updated_at = ?3, "
              "lease_owner = NULL, lease_until = NULL WHERE id = ?1 AND state = 'waiting'"
            : "UPDATE tasks SET state = CASE WHEN attempts < max_attempts THEN 'failed' ELSE 'dead' END, "
              "error = ?2, run_at = ?4, finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE ?3 END, "
              "updated_at = ?3, lease_owner = NULL, lease_until = NULL WHERE id = ?1 AND state = 'waiting'";
    sqlite3_stmt *st = prep(db, sql);
    if (st == NULL) {
        rc = sq_db_error(db, err, "prepare finish waiting");
        return sq_finish(db, rc, err);
    }
    int64_t now = ag_now_ms();
    sqlite3_bind_int64(st, 1, id);
    sq_bind_text(st, 2, succeeded ? (result ? result : "null") : (error ? error : "failed"));
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, retry_at > 0 ? retry_at : now);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        rc = sq_db_error(db, err, "finish waiting");
    int changed = rc == 0 ? sqlite3_changes(db) : 0;
    if (rc == 0)
        rc = s->ops->task_get(s, id, out, err);
    if (rc == 0 && changed && out->workflow_id != NULL)
        rc = ag__sq_workflow_check(s, out->workflow_id, now, err);
    if (rc == 0 && !changed)
        rc = ag_err_set(err, AG_ESTATE, "task %lld is %s; only a waiting task can be finished this way",
                        (long long)id, ag_task_state_name(out->state));
    int ok = rc == 0 || rc == AG_ESTATE; /* nothing to undo for AG_ESTATE */
    int frc = sq_finish(db, ok ? 0 : rc, err);
    if (ok && frc != 0)
        rc = frc;
    if (rc != 0 && rc != AG_ESTATE)
        ag_task_clear(out);
    return rc;
}

/* ---- subscriptions -------------------------------------------------------------------------------------------- */

static void read_sub(sqlite3_stmt *st, ag_webhook_sub_t *w)
{
    w->id = sqlite3_column_int64(st, 0);
    w->url = sq_col_str(st, 1);
    w->events = sq_col_str(st, 2);
    w->secret = sq_col_str(st, 3);
    w->active = sqlite3_column_int(st, 4);
    w->created_at = sqlite3_column_int64(st, 5);
    w->updated_at = sqlite3_column_int64(st, 6);
}

/* Steps a statement that returns at most one subscription row: 0, AG_ENOTFOUND or AG_ESTORE. Finalizes st. */
static int step_sub(sqlite3 *db, sqlite3_stmt *st, int64_t id, ag_webhook_sub_t *out, ag_err_t *err)
{
    int step = sqlite3_step(st);
    int rc = 0;
    if (step == SQLITE_ROW)
        read_sub(st, out);
    else if (step == SQLITE_DONE)
        rc = ag_err_set(err, AG_ENOTFOUND, "no webhook subscription %lld", (long long)id);
    else
        rc = sq_db_error(db, err, "webhook subscription");
    sqlite3_finalize(st);
    return rc;
}

int ag__sq_webhook_sub_get(ag_store_t *s, int64_t id, ag_webhook_sub_t *out, ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = prep(db, "SELECT " SUB_COLS " FROM webhook_subscriptions WHERE id = ?1");
    if (st == NULL)
        return sq_db_error(db, err, "prepare webhook get");
    sqlite3_bind_int64(st, 1, id);
    return step_sub(db, st, id, out, err);
}

int ag__sq_webhook_sub_create(ag_store_t *s, const ag_webhook_sub_new_t *n, ag_webhook_sub_t *out, ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    memset(out, 0, sizeof(*out));
    int rc = sq_begin(db, err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = prep(db, "INSERT INTO webhook_subscriptions (url, events, secret, active, last_event_id, "
                                "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, "
                                "(SELECT coalesce(max(id), 0) FROM events), ?5, ?5) RETURNING " SUB_COLS);
    if (st == NULL)
        return sq_finish(db, sq_db_error(db, err, "prepare webhook create"), err);
    sq_bind_text(st, 1, n->url);
    sq_bind_text(st, 2, n->events);
    sq_bind_text(st, 3, n->secret ? n->secret : "");
    sqlite3_bind_int(st, 4, n->active ? 1 : 0);
    sqlite3_bind_int64(st, 5, ag_now_ms());
    rc = step_sub(db, st, 0, out, err);
    if (rc == AG_ENOTFOUND)
        rc = ag_err_set(err, AG_ESTORE, "webhook create returned no row");
    rc = sq_finish(db, rc, err);
    if (rc != 0)
        ag_webhook_sub_clear(out);
    return rc;
}

int ag__sq_webhook_sub_list(ag_store_t *s, int64_t after_id, int limit, ag_webhook_sub_t **out, size_t *n,
                            int64_t *next, ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    *out = NULL;
    *n = 0;
    *next = 0;
    if (limit < 1 || limit > AG_WEBHOOK_LIST_MAX || after_id < 0)
        return ag_err_set(err, AG_EINVAL, "limit: must be an integer from 1 to %d", AG_WEBHOOK_LIST_MAX);
    sqlite3_stmt *st = prep(db, "SELECT " SUB_COLS " FROM webhook_subscriptions WHERE id > ?1 ORDER BY id LIMIT ?2");
    if (st == NULL)
        return sq_db_error(db, err, "prepare webhook list");
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int(st, 2, limit + 1);
    ag_webhook_sub_t *items = ag_xcalloc((size_t)limit + 1, sizeof(*items));
    size_t got = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && got <= (size_t)limit)
        read_sub(st, &items[got++]);
    if (step != SQLITE_DONE && step != SQLITE_ROW) {
        int rc = sq_db_error(db, err, "webhook list");
        sqlite3_finalize(st);
        ag_webhook_subs_free(items, got);
        return rc;
    }
    sqlite3_finalize(st);
    if (got > (size_t)limit) {
        ag_webhook_sub_clear(&items[--got]);
        *next = items[got - 1].id;
    }
    *out = items;
    *n = got;
    return 0;
}

int ag__sq_webhook_sub_replace(ag_store_t *s, int64_t id, const ag_webhook_sub_new_t *n, ag_webhook_sub_t *out,
                               ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    memset(out, 0, sizeof(*out));
    int rc = sq_begin(db, err);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = prep(db, "UPDATE webhook_subscriptions SET url = ?2, events = ?3, secret = coalesce(?4, "
                                "secret), active = ?5, updated_at = ?6 WHERE id = ?1 RETURNING " SUB_COLS);
    if (st == NULL)
        return sq_finish(db, sq_db_error(db, err, "prepare webhook replace"), err);
    sqlite3_bind_int64(st, 1, id);
    sq_bind_text(st, 2, n->url);
    sq_bind_text(st, 3, n->events);
    sq_bind_text(st, 4, n->secret);
    sqlite3_bind_int(st, 5, n->active ? 1 : 0);
    sqlite3_bind_int64(st, 6, ag_now_ms());
    rc = sq_finish(db, step_sub(db, st, id, out, err), err);
    if (rc != 0)
        ag_webhook_sub_clear(out);
    return rc;
}

int ag__sq_webhook_sub_delete(ag_store_t *s, int64_t id, ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    int rc = sq_begin(db, err);
    if (rc != 0)
        return rc;
    /* Deliveries go with it (ON DELETE CASCADE). */
    sqlite3_stmt *st = prep(db, "DELETE FROM webhook_subscriptions WHERE id = ?1");
    if (st == NULL)
        return sq_finish(db, sq_db_error(db, err, "prepare webhook delete"), err);
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        rc = sq_db_error(db, err, "webhook delete");
    else if (sqlite3_changes(db) == 0)
        rc = ag_err_set(err, AG_ENOTFOUND, "no webhook subscription %lld", (long long)id);
    return sq_finish(db, rc, err);
}

/* ---- deliveries ----------------------------------------------------------------------------------------------- */

/* The comma-separated pattern list of events.h from a stored JSON array of patterns. Patterns hold only
 * letters, digits, '_', '.' and '*' (checked on the way in), so dropping the brackets and quotes is exact. */
static void patterns_of(const char *json, char *out, size_t outsz)
{
    size_t o = 0;
    for (const char *p = json; p && *p && o + 1 < outsz; p++)
        if (*p != '[' && *p != ']' && *p != '"' && *p != ' ')
            out[o++] = *p;
    out[o] = '\0';
}

/* 1 when the query's first column of its first row is nonzero. */
static int query_flag(sqlite3 *db, const char *sql, int64_t arg, int *flag, ag_err_t *err)
{
    sqlite3_stmt *st = prep(db, sql);
    if (st == NULL)
        return sq_db_error(db, err, "prepare webhook check");
    sqlite3_bind_int64(st, 1, arg);
    int step = sqlite3_step(st);
    *flag = step == SQLITE_ROW && sqlite3_column_int64(st, 0) != 0;
    sqlite3_finalize(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : sq_db_error(db, err, "webhook check");
}

int ag__sq_webhook_enqueue(ag_store_t *s, int limit, size_t *added, ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    *added = 0;
    int behind = 0;
    int rc = query_flag(db,
                        "SELECT EXISTS (SELECT 1 FROM webhook_subscriptions WHERE last_event_id < "
                        "(SELECT coalesce(max(id), 0) FROM events))",
                        1, &behind, err);
    if (rc != 0 || !behind)
        return rc;
    if ((rc = sq_begin(db, err)) != 0)
        return rc;
    sqlite3_stmt *subs = prep(db, "SELECT id, events, active, last_event_id FROM webhook_subscriptions ORDER BY id");
    sqlite3_stmt *evs = prep(db, "SELECT id, type FROM events WHERE id > ?1 ORDER BY id LIMIT ?2");
    sqlite3_stmt *ins = prep(db, "INSERT INTO webhook_deliveries (subscription_id, event_id, attempt, status, "
                                 "next_attempt_at, created_at) VALUES (?1, ?2, 1, 'pending', ?3, ?3)");
    sqlite3_stmt *cur = prep(db, "UPDATE webhook_subscriptions SET last_event_id = ?2 WHERE id = ?1");
    if (subs == NULL || evs == NULL || ins == NULL || cur == NULL) {
        rc = sq_db_error(db, err, "prepare webhook enqueue");
        goto done;
    }
    int64_t now = ag_now_ms();
    int step;
    while ((step = sqlite3_step(subs)) == SQLITE_ROW && rc == 0) {
        int64_t sub = sqlite3_column_int64(subs, 0);
        char patterns[2048];
        patterns_of((const char *)sqlite3_column_text(subs, 1), patterns, sizeof(patterns));
        int active = sqlite3_column_int(subs, 2);
        int64_t last = sqlite3_column_int64(subs, 3), cursor = last;
        sqlite3_reset(evs);
        sqlite3_bind_int64(evs, 1, cursor);
        sqlite3_bind_int(evs, 2, limit);
        int es;
        while ((es = sqlite3_step(evs)) == SQLITE_ROW) {
            last = sqlite3_column_int64(evs, 0);
            const char *type = (const char *)sqlite3_column_text(evs, 1);
            if (!active || type == NULL || patterns[0] == '\0' || !ag_event_type_matches(patterns, type))
                continue;
            sqlite3_reset(ins);
            sqlite3_bind_int64(ins, 1, sub);
            sqlite3_bind_int64(ins, 2, last);
            sqlite3_bind_int64(ins, 3, now);
            if (sqlite3_step(ins) != SQLITE_DONE) {
                rc = sq_db_error(db, err, "webhook enqueue");
                break;
            }
            (*added)++;
        }
        if (rc == 0 && es != SQLITE_DONE && es != SQLITE_ROW)
            rc = sq_db_error(db, err, "webhook events");
        if (rc == 0 && last > cursor) {
            sqlite3_reset(cur);
            sqlite3_bind_int64(cur, 1, sub);
            sqlite3_bind_int64(cur, 2, last);
            if (sqlite3_step(cur) != SQLITE_DONE)
                rc = sq_db_error(db, err, "webhook cursor");
        }
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = sq_db_error(db, err, "webhook subscriptions");
done:
    sqlite3_finalize(subs);
    sqlite3_finalize(evs);
    sqlite3_finalize(ins);
    sqlite3_finalize(cur);
    rc = sq_finish(db, rc, err);
    if (rc != 0)
        *added = 0;
    return rc;
}

int ag__sq_webhook_claim(ag_store_t *s, int max, int lease_ms, ag_webhook_job_t **out, size_t *n, ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    *out = NULL;
    *n = 0;
    int64_t now = ag_now_ms();
    int due = 0;
    int rc = query_flag(db, "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE status = 'pending' AND "
                            "next_attempt_at <= ?1)", now, &due, err);
    if (rc != 0 || !due || max <= 0)
        return rc;
    if ((rc = sq_begin(db, err)) != 0)
        return rc;
    sqlite3_stmt *sel = prep(db, "SELECT d.id, d.subscription_id, d.attempt, s.url, s.secret, e.id, e.type, "
                                 "e.domain, e.task_id, e.from_state, e.to_state, e.detail, e.data, e.at "
                                 "FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id "
                                 "JOIN events e ON e.id = d.event_id WHERE d.status = 'pending' AND "
                                 "d.next_attempt_at <= ?1 AND s.active = 1 ORDER BY d.next_attempt_at, d.id LIMIT ?2");
    sqlite3_stmt *upd = prep(db, "UPDATE webhook_deliveries SET next_attempt_at = ?2 WHERE id = ?1");
    ag_webhook_job_t *jobs = ag_xcalloc((size_t)max, sizeof(*jobs));
    size_t got = 0;
    if (sel == NULL || upd == NULL) {
        rc = sq_db_error(db, err, "prepare webhook claim");
        goto done;
    }
    sqlite3_bind_int64(sel, 1, now);
    sqlite3_bind_int(sel, 2, max);
    int step;
    while ((step = sqlite3_step(sel)) == SQLITE_ROW && got < (size_t)max) {
        ag_webhook_job_t *j = &jobs[got++];
        j->delivery_id = sqlite3_column_int64(sel, 0);
        j->subscription_id = sqlite3_column_int64(sel, 1);
        j->attempt = sqlite3_column_int(sel, 2);
        j->url = sq_col_str(sel, 3);
        j->secret = sq_col_str(sel, 4);
        j->event.id = sqlite3_column_int64(sel, 5);
        j->event.type = sq_col_str(sel, 6);
        j->event.domain = sq_col_str(sel, 7);
        j->event.task_id = sqlite3_column_int64(sel, 8);
        j->event.from = sq_col_str(sel, 9);
        j->event.to = sq_col_str(sel, 10);
        j->event.detail = sq_col_str(sel, 11);
        j->event.data = sq_col_str(sel, 12);
        j->event.at = sqlite3_column_int64(sel, 13);
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW) {
        rc = sq_db_error(db, err, "webhook claim");
        goto done;
    }
    for (size_t i = 0; i < got && rc == 0; i++) {
        sqlite3_reset(upd);
        sqlite3_bind_int64(upd, 1, jobs[i].delivery_id);
        sqlite3_bind_int64(upd, 2, now + lease_ms);
        if (sqlite3_step(upd) != SQLITE_DONE)
            rc = sq_db_error(db, err, "webhook lease");
    }
done:
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    rc = sq_finish(db, rc, err);
    if (rc != 0) {
        for (size_t i = 0; i < got; i++)
            ag_webhook_job_clear(&jobs[i]);
        free(jobs);
        return rc;
    }
    if (got == 0) {
        free(jobs);
        jobs = NULL;
    }
    *out = jobs;
    *n = got;
    return 0;
}

int ag__sq_webhook_record(ag_store_t *s, const ag_webhook_result_t *r, ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    int rc = sq_begin(db, err);
    if (rc != 0)
        return rc;
    int64_t now = ag_now_ms();
    const char *sql = r->release ? "UPDATE webhook_deliveries SET next_attempt_at = ?5 WHERE id = ?1 AND "
                                   "status = 'pending'"
                                 : "UPDATE webhook_deliveries SET status = ?2, http_status = ?3, error = ?4, "
                                   "delivered_at = ?5 WHERE id = ?1 AND status = 'pending'";
    sqlite3_stmt *st = prep(db, sql);
    if (st == NULL)
        return sq_finish(db, sq_db_error(db, err, "prepare webhook record"), err);
    sqlite3_bind_int64(st, 1, r->delivery_id);
    if (!r->release) {
        sq_bind_text(st, 2, r->ok ? "delivered" : r->retry_at > 0 ? "failed" : "dead");
        if (r->http_status > 0)
            sqlite3_bind_int(st, 3, r->http_status);
        else
            sqlite3_bind_null(st, 3);
        sq_bind_text(st, 4, r->ok ? NULL : r->error ? r->error : "failed");
    }
    sqlite3_bind_int64(st, 5, now);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        return sq_finish(db, sq_db_error(db, err, "webhook record"), err);
    /* No row changed: the subscription was deleted meanwhile, or the row was already recorded. */
    if (r->release || r->ok || r->retry_at <= 0 || sqlite3_changes(db) == 0)
        return sq_finish(db, 0, err);
    st = prep(db, "INSERT INTO webhook_deliveries (subscription_id, event_id, attempt, status, next_attempt_at, "
                  "created_at) SELECT subscription_id, event_id, attempt + 1, 'pending', ?2, ?3 "
                  "FROM webhook_deliveries WHERE id = ?1");
    if (st == NULL)
        return sq_finish(db, sq_db_error(db, err, "prepare webhook retry"), err);
    sqlite3_bind_int64(st, 1, r->delivery_id);
    sqlite3_bind_int64(st, 2, r->retry_at);
    sqlite3_bind_int64(st, 3, now);
    step = sqlite3_step(st);
    sqlite3_finalize(st);
    return sq_finish(db, step == SQLITE_DONE ? 0 : sq_db_error(db, err, "webhook retry"), err);
}

int ag__sq_webhook_deliveries(ag_store_t *s, int64_t sub_id, int64_t after_id, int limit,
                              ag_webhook_delivery_t **out, size_t *n, int64_t *next, ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    *out = NULL;
    *n = 0;
    *next = 0;
    if (limit < 1 || limit > AG_WEBHOOK_LIST_MAX || after_id < 0)
        return ag_err_set(err, AG_EINVAL, "limit: must be an integer from 1 to %d", AG_WEBHOOK_LIST_MAX);
    int exists = 0;
    int rc = query_flag(db, "SELECT count(*) FROM webhook_subscriptions WHERE id = ?1", sub_id, &exists, err);
    if (rc != 0)
        return rc;
    if (!exists)
        return ag_err_set(err, AG_ENOTFOUND, "no webhook subscription %lld", (long long)sub_id);
    sqlite3_stmt *st = prep(db, "SELECT " DELIVERY_COLS " FROM webhook_deliveries WHERE subscription_id = ?1 AND "
                                "id > ?2 ORDER BY id LIMIT ?3");
    if (st == NULL)
        return sq_db_error(db, err, "prepare webhook deliveries");
    sqlite3_bind_int64(st, 1, sub_id);
    sqlite3_bind_int64(st, 2, after_id);
    sqlite3_bind_int(st, 3, limit + 1);
    ag_webhook_delivery_t *items = ag_xcalloc((size_t)limit + 1, sizeof(*items));
    size_t got = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && got <= (size_t)limit) {
        ag_webhook_delivery_t *d = &items[got++];
        d->id = sqlite3_column_int64(st, 0);
        d->subscription_id = sqlite3_column_int64(st, 1);
        d->event_id = sqlite3_column_int64(st, 2);
        d->attempt = sqlite3_column_int(st, 3);
        d->status = sq_col_str(st, 4);
        d->http_status = sqlite3_column_int(st, 5);
        d->error = sq_col_str(st, 6);
        d->next_attempt_at = sqlite3_column_int64(st, 7);
        d->created_at = sqlite3_column_int64(st, 8);
        d->delivered_at = sqlite3_column_int64(st, 9);
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW) {
        rc = sq_db_error(db, err, "webhook deliveries");
        sqlite3_finalize(st);
        ag_webhook_deliveries_free(items, got);
        return rc;
    }
    sqlite3_finalize(st);
    if (got > (size_t)limit) {
        got--;
        free(items[got].status);
        free(items[got].error);
        *next = items[got - 1].id;
    }
    *out = items;
    *n = got;
    return 0;
}
