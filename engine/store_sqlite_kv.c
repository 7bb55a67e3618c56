/*
 * store_sqlite_kv.c: the SQLite backend's kv_incr and the lazy purge of expired keys (table kv, migration
 * 0008's expires_at). get, set and delete stay in store_sqlite.c with its cached statements; see store.h
 * for the contracts.
 *
 * Increment: under the process-wide write mutex, one BEGIN IMMEDIATE transaction reads the row, checks
 * that its JSON text is an integer, and writes the sum back, so two tasks incrementing the same key never
 * lose an update, whichever thread or process they run in. The read treats an expired row as absent (the
 * count starts again from 0 with the new ttl) exactly as kv_get does.
 *
 * Purge: expired rows are invisible to every read, so deleting them is only about space. Writes call
 * purge_due, which at most once a minute per process deletes up to PURGE_BATCH expired rows through the
 * partial index kv_expires: a bounded cost on one write in many, nothing on reads. Statements are
 * prepared per call, as in store_sqlite_webhooks.c: an increment is a write transaction, which costs far
 * more than a prepare.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "store_sqlite_int.h"

#define PURGE_INTERVAL_MS 60000
#define PURGE_BATCH 1000

static _Atomic int64_t next_purge_at; /* ms since the epoch; 0: the first write purges */

/* Parses JSON text that is exactly an integer ("-12", "0"); 0, or -1 for anything else or past int64. */
static int parse_int(const unsigned char *v, int len, int64_t *out)
{
    if (v == NULL || len <= 0 || len > 20)
        return -1;
    int i = v[0] == '-';
    if (i == len)
        return -1;
    for (int j = i; j < len; j++)
        if (v[j] < '0' || v[j] > '9')
            return -1;
    char tmp[24];
    memcpy(tmp, v, (size_t)len);
    tmp[len] = '\0';
    errno = 0;
    long long n = strtoll(tmp, NULL, 10);
    if (errno == ERANGE)
        return -1;
    *out = n;
    return 0;
}

/* The increment itself, inside the caller's transaction. */
static int incr_in_tx(sqlite3 *db, const char *domain, const char *key, int64_t by, int64_t ttl_ms, int64_t now,
                      int64_t *out, ag_err_t *err)
{
    int rc = AG_ESTORE;
    sqlite3_stmt *rd = NULL, *wr = NULL;
    if (sqlite3_prepare_v2(db, "SELECT value, expires_at FROM kv WHERE domain = ?1 AND key = ?2", -1, &rd, NULL) !=
        SQLITE_OK) {
        rc = sq_db_error(db, err, "prepare kv incr read");
        goto done;
    }
    sqlite3_bind_text(rd, 1, domain, -1, SQLITE_STATIC);
    sqlite3_bind_text(rd, 2, key, -1, SQLITE_STATIC);
    int64_t cur = 0;
    int keep_expiry = 0; /* the row is live: keep its expires_at (NULL or a time) */
    int step = sqlite3_step(rd);
    if (step == SQLITE_ROW) {
        int never = sqlite3_column_type(rd, 1) == SQLITE_NULL;
        if (never || sqlite3_column_int64(rd, 1) > now) {
            keep_expiry = 1;
            if (parse_int(sqlite3_column_text(rd, 0), sqlite3_column_bytes(rd, 0), &cur) != 0) {
                rc = ag_err_set(err, AG_ESTATE, "the value of key '%s' is not an integer", key);
                goto done;
            }
        }
    } else if (step != SQLITE_DONE) {
        rc = sq_db_error(db, err, "kv incr read");
        goto done;
    }
    int64_t next;
    if (__builtin_add_overflow(cur, by, &next)) {
        rc = ag_err_set(err, AG_ESTATE, "incrementing key '%s' (%lld) by %lld leaves the 64-bit integer range", key,
                        (long long)cur, (long long)by);
        goto done;
    }
    const char *sql = keep_expiry
                          ? "UPDATE kv SET value = ?3, updated_at = ?4 WHERE domain = ?1 AND key = ?2"
                          : "INSERT INTO kv (domain, key, value, updated_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5) "
                            "ON CONFLICT (domain, key) DO UPDATE SET value = excluded.value, "
                            "updated_at = excluded.updated_at, expires_at = excluded.expires_at";
    if (sqlite3_prepare_v2(db, sql, -1, &wr, NULL) != SQLITE_OK) {
        rc = sq_db_error(db, err, "prepare kv incr write");
        goto done;
    }
    char text[24];
    snprintf(text, sizeof(text), "%lld", (long long)next);
    sqlite3_bind_text(wr, 1, domain, -1, SQLITE_STATIC);
    sqlite3_bind_text(wr, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(wr, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(wr, 4, now);
    if (!keep_expiry && ttl_ms > 0)
        sqlite3_bind_int64(wr, 5, now + ttl_ms);
    else if (!keep_expiry)
        sqlite3_bind_null(wr, 5);
    if (sqlite3_step(wr) != SQLITE_DONE) {
        rc = sq_db_error(db, err, "kv incr write");
        goto done;
    }
    *out = next;
    rc = 0;
done:
    sqlite3_finalize(wr);
    sqlite3_finalize(rd);
    return rc;
}

int ag__sq_kv_incr(ag_store_t *s, const char *domain, const char *key, int64_t by, int64_t ttl_ms, int64_t *out,
                   ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    ag__sqlite_write_lock();
    int rc;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = sq_db_error(db, err, "kv incr begin");
        goto done;
    }
    int64_t now = ag_now_ms();
    rc = incr_in_tx(db, domain, key, by, ttl_ms, now, out, err);
    if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = sq_db_error(db, err, "kv incr commit");
    if (rc != 0)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    else
        ag__sq_kv_purge_due(s, now);
done:
    ag__sqlite_write_unlock();
    return rc;
}

int ag__sq_kv_purge(ag_store_t *s, int64_t now, int limit, int *deleted, ag_err_t *err)
{
    sqlite3 *db = ag__sqlite_db(s);
    sqlite3_stmt *st = NULL;
    /* kv is WITHOUT ROWID: the batch is picked by primary key, through the partial index on expires_at. */
    if (sqlite3_prepare_v2(db,
                           "DELETE FROM kv WHERE (domain, key) IN (SELECT domain, key FROM kv "
                           "WHERE expires_at <= ?1 LIMIT ?2)",
                           -1, &st, NULL) != SQLITE_OK)
        return sq_db_error(db, err, "prepare kv purge");
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, limit);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sq_db_error(db, err, "kv purge");
    sqlite3_finalize(st);
    if (rc == 0 && deleted != NULL)
        *deleted = sqlite3_changes(db);
    return rc;
}

void ag__sq_kv_purge_due(ag_store_t *s, int64_t now)
{
    int64_t due = atomic_load(&next_purge_at);
    if (now < due || !atomic_compare_exchange_strong(&next_purge_at, &due, now + PURGE_INTERVAL_MS))
        return; /* not yet, or another thread just took this turn */
    ag_err_t err;
    (void)ag__sq_kv_purge(s, now, PURGE_BATCH, NULL, &err);
}

int ag__sq_kv_list(ag_store_t *s, const char *domain, const char *prefix, const char *after_key, int limit,
                   char ***keys, char ***values, int64_t **updated_at, size_t *n, ag_err_t *err)
{
    *keys = *values = NULL;
    *updated_at = NULL;
    *n = 0;
    /* substr() compares the prefix exactly: LIKE would treat % and _ in it as wildcards */
    sqlite3_stmt *st = ag__sqlite_stmt(s, AG_SQ_SLOT_KV, "SELECT key, value, updated_at FROM kv WHERE domain = ?1 AND "
                                       "substr(key, 1, length(?2)) = ?2 AND key > ?3 AND (expires_at IS NULL OR "
                                       "expires_at > ?4) ORDER BY key LIMIT ?5");
    if (st == NULL)
        return sq_db_error(ag__sqlite_db(s), err, "prepare kv list");
    sq_bind_text(st, 1, domain);
    sq_bind_text(st, 2, prefix ? prefix : "");
    sq_bind_text(st, 3, after_key ? after_key : "");
    sqlite3_bind_int64(st, 4, ag_now_ms());
    sqlite3_bind_int(st, 5, limit);
    size_t cap = limit > 0 ? (size_t)limit : 1;
    char **k = ag_xcalloc(cap, sizeof(*k)), **v = ag_xcalloc(cap, sizeof(*v));
    int64_t *u = ag_xcalloc(cap, sizeof(*u));
    size_t i = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && i < cap) {
        k[i] = sq_col_str(st, 0);
        v[i] = sq_col_str(st, 1);
        u[i] = sqlite3_column_int64(st, 2);
        i++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        for (size_t j = 0; j < i; j++) {
            free(k[j]);
            free(v[j]);
        }
        free(k);
        free(v);
        free(u);
        return sq_db_error(ag__sqlite_db(s), err, "kv list");
    }
    *keys = k;
    *values = v;
    *updated_at = u;
    *n = i;
    return 0;
}
