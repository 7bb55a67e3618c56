/*
 * sqlite_ceiling: what bare SQLite can do on this machine, with the engine's task table but none of
 * the engine around it. queue_bench.sh prints the engine's figures as a ratio of these.
 *
 *   (a) single-row autocommit INSERTs into `tasks` (one transaction per row)        -> sqlite_insert_per_s
 *   (b) claim 64 queued rows with UPDATE ... RETURNING (one transaction), then mark
 *       those 64 succeeded in a second transaction; repeat until none are left       -> sqlite_claim_complete_per_s
 *
 * Both run on a fresh file database in DIR with journal_mode=WAL, synchronous=NORMAL and the engine's
 * partial index tasks_ready (priority DESC, run_at, id) WHERE state IN ('queued','failed'). The table
 * has the engine's columns and its other indexes (tasks_leases, tasks_created, the UNIQUE
 * idempotency_key), but no task_events triggers: that is the "bare loop". With --events the
 * migration's task_events table and both triggers are added too and the same two figures are printed
 * again with an `_events` suffix, which is closer to what the engine's store has to write.
 *
 * Build: gcc -O2 -o sqlite_ceiling sqlite_ceiling.c -lsqlite3
 * Usage: sqlite_ceiling [-n ROWS] [-d DIR] [--events]      (default 50000 rows, DIR $TMPDIR or /tmp)
 * Output: machine-readable `key value` lines on stdout.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CLAIM_BATCH 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(sqlite3 *db, const char *what)
{
    fprintf(stderr, "sqlite_ceiling: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
    exit(1);
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "sqlite_ceiling: %s\n  in: %.200s\n", msg ? msg : "?", sql);
        exit(1);
    }
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        die(db, sql);
    return st;
}

/* The engine's tasks table and indexes (migrations/sqlite/0001_init.sql). */
static const char *SCHEMA =
    "CREATE TABLE tasks ("
    "  id INTEGER PRIMARY KEY, type TEXT NOT NULL, domain TEXT NOT NULL, agent TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('pending','queued','running','succeeded','failed',"
    "                                       'dead','cancelled','waiting')),"
    "  priority INTEGER NOT NULL DEFAULT 0, input TEXT NOT NULL DEFAULT '{}', result TEXT, error TEXT,"
    "  attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL DEFAULT 3,"
    "  idempotency_key TEXT UNIQUE, script_version TEXT, run_at INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER,"
    "  lease_owner TEXT, lease_until INTEGER, cancel_requested INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX tasks_ready ON tasks (priority DESC, run_at, id) WHERE state IN ('queued','failed');"
    "CREATE INDEX tasks_leases ON tasks (lease_until) WHERE state = 'running';"
    "CREATE INDEX tasks_created ON tasks (created_at);";

static const char *EVENTS_SCHEMA =
    "CREATE TABLE task_events (id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL, from_state TEXT,"
    "  to_state TEXT NOT NULL, at INTEGER NOT NULL, detail TEXT);"
    "CREATE INDEX task_events_task ON task_events (task_id, id);"
    "CREATE TRIGGER tasks_on_insert AFTER INSERT ON tasks BEGIN"
    "  INSERT INTO task_events (task_id, from_state, to_state, at, detail)"
    "  VALUES (new.id, NULL, new.state, new.created_at, NULL); END;"
    "CREATE TRIGGER tasks_on_transition AFTER UPDATE OF state ON tasks WHEN old.state IS NOT new.state BEGIN"
    "  INSERT INTO task_events (task_id, from_state, to_state, at, detail)"
    "  VALUES (new.id, old.state, new.state, new.updated_at,"
    "          CASE WHEN new.state IN ('failed','dead','cancelled') THEN new.error"
    "               WHEN new.state = 'running' THEN new.lease_owner END); END;";

static const char *INSERT_SQL =
    "INSERT INTO tasks (type, domain, agent, state, priority, input, max_attempts, run_at, created_at, updated_at)"
    " VALUES ('bench.noop', 'bench', 'noop', ?1, 0, ?2, 1, ?3, ?3, ?3)";

static const char *CLAIM_SQL =
    "UPDATE tasks SET state = 'running', attempts = attempts + 1, lease_owner = ?1, lease_until = ?2 + 30000,"
    "  started_at = ?2, updated_at = ?2"
    " WHERE id IN (SELECT id FROM tasks WHERE state IN ('queued','failed') AND run_at <= ?2"
    "              ORDER BY priority DESC, run_at, id LIMIT 64)"
    " RETURNING id";

static const char *DONE_SQL =
    "UPDATE tasks SET state = 'succeeded', result = '{\"ok\":true}', finished_at = ?2, updated_at = ?2,"
    "  lease_owner = NULL, lease_until = NULL"
    " WHERE id = ?1 AND state = 'running'";

static sqlite3 *open_db(const char *path, int events)
{
    sqlite3 *db = NULL;
    unlink(path);
    char aux[4200];
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK)
        die(db, path);
    exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;");
    exec(db, SCHEMA);
    if (events)
        exec(db, EVENTS_SCHEMA);
    return db;
}

static void close_db(sqlite3 *db, const char *path)
{
    sqlite3_close(db);
    unlink(path);
    char aux[4200];
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
}

/* (a) one autocommit transaction per row. */
static double bench_insert(const char *path, long n, int events)
{
    sqlite3 *db = open_db(path, events);
    sqlite3_stmt *ins = prep(db, INSERT_SQL);
    char input[64];
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        int len = snprintf(input, sizeof input, "{\"i\":%ld}", i);
        sqlite3_bind_text(ins, 1, "pending", -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, input, len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 3, wall_ms());
        if (sqlite3_step(ins) != SQLITE_DONE)
            die(db, "insert");
        sqlite3_reset(ins);
    }
    double dt = now_s() - t0;
    sqlite3_finalize(ins);
    close_db(db, path);
    return (double)n / dt;
}

/* (b) claim 64 (autocommit UPDATE ... RETURNING), then one transaction marking them succeeded. */
static double bench_claim(const char *path, long n, int events)
{
    sqlite3 *db = open_db(path, events);
    sqlite3_stmt *ins = prep(db, INSERT_SQL);
    char input[64];
    int64_t t_created = wall_ms() - 1000;
    exec(db, "BEGIN");
    for (long i = 0; i < n; i++) {
        int len = snprintf(input, sizeof input, "{\"i\":%ld}", i);
        sqlite3_bind_text(ins, 1, "queued", -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, input, len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 3, t_created);
        if (sqlite3_step(ins) != SQLITE_DONE)
            die(db, "preload insert");
        sqlite3_reset(ins);
    }
    exec(db, "COMMIT");
    sqlite3_finalize(ins);
    exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");

    sqlite3_stmt *claim = prep(db, CLAIM_SQL);
    sqlite3_stmt *done = prep(db, DONE_SQL);
    sqlite3_stmt *begin = prep(db, "BEGIN IMMEDIATE");
    sqlite3_stmt *commit = prep(db, "COMMIT");
    int64_t ids[CLAIM_BATCH];
    long completed = 0;
    double t0 = now_s();
    for (;;) {
        int64_t now = wall_ms();
        int k = 0, rc;
        sqlite3_bind_text(claim, 1, "bench-worker-0", -1, SQLITE_STATIC);
        sqlite3_bind_int64(claim, 2, now);
        while ((rc = sqlite3_step(claim)) == SQLITE_ROW)
            if (k < CLAIM_BATCH)
                ids[k++] = sqlite3_column_int64(claim, 0);
        if (rc != SQLITE_DONE)
            die(db, "claim");
        sqlite3_reset(claim);
        if (k == 0)
            break;
        /* the "agent" runs here: a no-op */
        now = wall_ms();
        if (sqlite3_step(begin) != SQLITE_DONE)
            die(db, "begin");
        sqlite3_reset(begin);
        for (int j = 0; j < k; j++) {
            sqlite3_bind_int64(done, 1, ids[j]);
            sqlite3_bind_int64(done, 2, now);
            if (sqlite3_step(done) != SQLITE_DONE)
                die(db, "complete");
            sqlite3_reset(done);
        }
        if (sqlite3_step(commit) != SQLITE_DONE)
            die(db, "commit");
        sqlite3_reset(commit);
        completed += k;
    }
    double dt = now_s() - t0;
    sqlite3_finalize(claim);
    sqlite3_finalize(done);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    if (completed != n) {
        fprintf(stderr, "sqlite_ceiling: completed %ld of %ld rows\n", completed, n);
        exit(1);
    }
    close_db(db, path);
    return (double)n / dt;
}

int main(int argc, char **argv)
{
    long n = 50000;
    int events = 0;
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || *dir == '\0')
        dir = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--events") == 0)
            events = 1;
        else {
            fprintf(stderr, "usage: %s [-n ROWS] [-d DIR] [--events]\n", argv[0]);
            return 2;
        }
    }
    if (n <= 0) {
        fprintf(stderr, "sqlite_ceiling: -n must be positive\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/sqlite_ceiling.%ld.db", dir, (long)getpid());

    printf("sqlite_version %s\n", sqlite3_libversion());
    printf("sqlite_rows %ld\n", n);
    fflush(stdout);
    printf("sqlite_insert_per_s %.0f\n", bench_insert(path, n, 0));
    fflush(stdout);
    printf("sqlite_claim_complete_per_s %.0f\n", bench_claim(path, n, 0));
    fflush(stdout);
    if (events) {
        printf("sqlite_insert_events_per_s %.0f\n", bench_insert(path, n, 1));
        fflush(stdout);
        printf("sqlite_claim_complete_events_per_s %.0f\n", bench_claim(path, n, 1));
        fflush(stdout);
    }
    return 0;
}
