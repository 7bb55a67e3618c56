/*
 * store.h: the storage interface, a table of domain operations (DESIGN §3), not a SQL wrapper.
 *
 * One ag_store_t is one connection, owned by one loop thread. Backends: SQLite now (store_sqlite.c),
 * PostgreSQL later with the same calls (batch claims with FOR UPDATE SKIP LOCKED). Calls are
 * synchronous: SQLite answers in microseconds on the loop (DESIGN §2). A PostgreSQL backend will keep
 * these contracts and run its statements on the connection's own thread.
 *
 * Every call returns 0 or a negative AG_E* code and fills err on failure. Strings in the structs
 * below that a call fills belong to the struct; release them with the matching *_clear function.
 * Transitions are recorded in the task's event log by the store, with timestamps.
 */
#ifndef AG_STORE_H
#define AG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef enum ag_task_state_e {
    AG_TASK_PENDING = 0,
    AG_TASK_QUEUED,
    AG_TASK_RUNNING,
    AG_TASK_SUCCEEDED,
    AG_TASK_FAILED, /* the last attempt failed; a retry is due at run_at */
    AG_TASK_DEAD,
    AG_TASK_CANCELLED,
    AG_TASK_WAITING,
    AG_TASK__NSTATES
} ag_task_state_t;

const char *ag_task_state_name(ag_task_state_t s);
/* -1 when name is no state. */
int ag_task_state_parse(const char *name);
/* 1 for succeeded, dead and cancelled. */
int ag_task_state_terminal(ag_task_state_t s);

typedef struct ag_task_s {
    int64_t id;
    char *type, *domain, *agent;
    ag_task_state_t state;
    int priority, attempts, max_attempts;
    char *input, *result, *error; /* input and result are JSON texts; error is plain text */
    char *idempotency_key, *script_version;
    int64_t run_at, created_at, updated_at, started_at, finished_at; /* ms since the epoch; 0 = not set */
} ag_task_t;

void ag_task_clear(ag_task_t *t);

/* What a creation needs; the store borrows every string. */
typedef struct ag_task_new_s {
    const char *type, *domain, *agent;
    const char *input;           /* JSON text */
    const char *idempotency_key; /* NULL for none */
    int priority, max_attempts;
    int64_t run_at; /* 0: now */
    int queued;     /* 1: created queued (execute), 0: pending */
} ag_task_new_t;

/* A claimed task, as a worker needs it. */
typedef struct ag_claim_s {
    int64_t id;
    char *type, *domain, *agent, *input;
    int attempts, max_attempts;
} ag_claim_t;

void ag_claims_free(ag_claim_t *c, size_t n);

/* The end of one run, applied by sync. The store takes nothing; strings are borrowed. */
typedef struct ag_outcome_s {
    int64_t id;
    ag_task_state_t state; /* SUCCEEDED, FAILED (retry at run_at), DEAD or CANCELLED */
    const char *result;    /* JSON text, SUCCEEDED only */
    const char *error;
    const char *script_version;
    int64_t run_at;
} ag_outcome_t;

typedef struct ag_task_event_s {
    char *from, *to, *detail; /* from is NULL for the creation */
    int64_t at;
} ag_task_event_t;

void ag_task_events_free(ag_task_event_t *e, size_t n);

typedef struct ag_store_s ag_store_t;

typedef struct ag_store_ops_s {
    const char *name;
    void (*close)(ag_store_t *s);
    /* Applies every migration not yet recorded; *applied counts the new ones. */
    int (*migrate)(ag_store_t *s, int *applied, ag_err_t *err);
    int (*ping)(ag_store_t *s, ag_err_t *err);

    /* Creates a task, or finds the one with the same idempotency key (*existed = 1). */
    int (*task_create)(ag_store_t *s, const ag_task_new_t *n, ag_task_t *out, int *existed, ag_err_t *err);
    /* Group commit: creates n tasks in one transaction. rcs[i] is each creation's result (0 or AG_E*),
     * out[i] and existed[i] as for task_create; the call's own result is nonzero only when the
     * transaction failed (then nothing was created). */
    int (*task_create_batch)(ag_store_t *s, const ag_task_new_t *n, size_t count, ag_task_t *out, int *existed,
                             int *rcs, ag_err_t *err);
    /* AG_ENOTFOUND when there is no such task. */
    int (*task_get)(ag_store_t *s, int64_t id, ag_task_t *out, ag_err_t *err);
    /* pending -> queued; queued/failed are left as they are; AG_ESTATE (out filled) otherwise. */
    int (*task_execute)(ag_store_t *s, int64_t id, ag_task_t *out, ag_err_t *err);
    /* Cancels at once unless running (then the cancel is requested: *requested = 1); AG_ESTATE when finished. */
    int (*task_cancel)(ag_store_t *s, int64_t id, ag_task_t *out, int *requested, ag_err_t *err);
    /* The task's transitions, oldest first; AG_ENOTFOUND for an unknown task. */
    int (*task_events)(ag_store_t *s, int64_t id, ag_task_event_t **out, size_t *n, ag_err_t *err);

    /*
     * The worker's round trip, one transaction: apply outcomes (each only if the task is still running
     * under owner's lease), then claim up to max due tasks for owner with a lease of lease_ms.
     */
    int (*sync)(ag_store_t *s, const ag_outcome_t *done, size_t ndone, const char *owner, int max, int lease_ms,
                ag_claim_t **claimed, size_t *nclaimed, ag_err_t *err);
    /* Renews owner's leases on ids; returns (new array) the ids whose cancellation was requested. */
    int (*heartbeat)(ag_store_t *s, const char *owner, const int64_t *ids, size_t n, int lease_ms,
                     int64_t **cancel, size_t *ncancel, ag_err_t *err);
    /* Running tasks whose lease expired go back to queued, or dead when their attempts are spent. */
    int (*recover)(ag_store_t *s, size_t *recovered, ag_err_t *err);
    /* The earliest run_at of a task waiting to be claimed, or 0 when none. */
    int (*next_due)(ag_store_t *s, int64_t *run_at, ag_err_t *err);

    /* Domain KV: values are JSON texts. get: AG_ENOTFOUND when absent; *out is new. */
    int (*kv_get)(ag_store_t *s, const char *domain, const char *key, char **out, ag_err_t *err);
    int (*kv_set)(ag_store_t *s, const char *domain, const char *key, const char *value, ag_err_t *err);
    int (*kv_del)(ag_store_t *s, const char *domain, const char *key, ag_err_t *err);

    /* Records a script version (content hash) once. */
    int (*script_version_put)(ag_store_t *s, const char *hash, const char *path, const char *source,
                              ag_err_t *err);
} ag_store_ops_t;

struct ag_store_s {
    const ag_store_ops_t *ops;
};

/* Opens a connection for url ("sqlite:PATH"); the backend is chosen by the scheme. */
int ag_store_open(ag_store_t **out, const char *url, ag_err_t *err);
void ag_store_close(ag_store_t *s);

/* The SQLite backend; path ":memory:" opens a private in-memory database. */
int ag_store_sqlite_open(ag_store_t **out, const char *path, ag_err_t *err);

#endif
