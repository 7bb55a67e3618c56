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
    char *workflow_id; /* NULL when the task belongs to no workflow */
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
    char *workflow_id; /* NULL: none */
    int attempts, max_attempts;
} ag_claim_t;

void ag_claims_free(ag_claim_t *c, size_t n);

/* A handoff evaluated when its source task succeeded (engine/lua/handoffs.c), applied by sync in the same
 * transaction as the success: the handoff record and, when accepted, the target task (queued, in the
 * source task's workflow). At most one per (source task, name). Strings are borrowed. */
typedef struct ag_handoff_new_s {
    const char *name;                    /* domains/<from_domain>/handoffs/<name>.lua */
    const char *from_domain, *to_domain, *to_type, *to_agent;
    int max_attempts;                    /* of the target task type */
    int accepted;                        /* 0: rejected, no task */
    const char *reasons;                 /* JSON array of strings (rejected) */
    const char *input;                   /* JSON: the target task's input (accepted) */
} ag_handoff_new_t;

/* task.approve{} that found no decision: the task waits (state waiting) for POST /tasks/{id}/approve. */
typedef struct ag_approval_new_s {
    int seq;
    const char *reason, *data; /* data: JSON or NULL */
} ag_approval_new_t;

/* The end of one run, applied by sync. The store takes nothing; strings are borrowed. */
typedef struct ag_outcome_s {
    int64_t id;
    ag_task_state_t state; /* SUCCEEDED, FAILED (retry at run_at), DEAD, CANCELLED or WAITING */
    const char *result;    /* JSON text, SUCCEEDED only */
    const char *error;
    const char *script_version;
    int64_t run_at;
    const char *workflow_id;           /* the task's workflow or NULL: a terminal outcome may complete it */
    const ag_handoff_new_t *handoffs;  /* SUCCEEDED only */
    size_t nhandoffs;
    const ag_approval_new_t *approval; /* WAITING only */
} ag_outcome_t;

/* A workflow: one item (an offer, a lead, a deal) followed across domains. */
typedef struct ag_workflow_s {
    int64_t id;
    char *start_type, *start_domain, *status, *input; /* status: running, completed, failed, cancelled */
    int64_t created_at, updated_at, finished_at;
} ag_workflow_t;
void ag_workflow_clear(ag_workflow_t *w);

typedef struct ag_handoff_s {
    int64_t id, source_task_id, target_task_id; /* target 0 when rejected */
    char *name, *from_domain, *to_domain, *to_type, *workflow_id, *status, *reasons, *package;
    int64_t created_at;
} ag_handoff_t;
void ag_handoffs_free(ag_handoff_t *h, size_t n);

/* GET /api/v1/handoffs filters; NULL = any. */
typedef struct ag_handoff_filter_s {
    const char *from_domain, *to_domain, *status, *workflow_id;
} ag_handoff_filter_t;

typedef struct ag_approval_s {
    int64_t task_id;
    int seq;
    char *reason, *data, *status, *comment, *decided_by; /* status: pending, approved, rejected */
    int64_t requested_at, decided_at;
} ag_approval_t;
void ag_approval_clear(ag_approval_t *a);

typedef struct ag_task_event_s {
    char *from, *to, *detail; /* from is NULL for the creation */
    int64_t at;
} ag_task_event_t;

void ag_task_events_free(ag_task_event_t *e, size_t n);

/* What GET /api/v1/tasks filters by; NULL strings, state -1 and zero times mean "any". Strings are borrowed. */
typedef struct ag_task_filter_s {
    int state; /* an ag_task_state_t, or -1 */
    const char *domain, *agent, *type, *workflow_id;
    int64_t created_after;  /* ms: created_at >= this (inclusive), 0 = no bound */
    int64_t created_before; /* ms: created_at < this (exclusive), 0 = no bound */
} ag_task_filter_t;

#define AG_TASK_LIST_MAX 200

/*
 * An agent record (the /api/v1/agents resource): a name bound to the script
 * domains/<domain>/agents/<script>.lua. The tasks of a record are those with tasks.domain = domain and
 * tasks.agent = script; while any record of that (domain, script) is paused, its tasks are not claimed.
 */
typedef struct ag_agent_s {
    int64_t id;
    char *name, *domain, *script;
    char *capabilities, *tools, *config; /* JSON texts: an array of strings, an array of strings, an object */
    char *status;                        /* "active" or "paused" */
    int64_t created_at, updated_at;      /* ms since the epoch */
} ag_agent_t;

void ag_agent_clear(ag_agent_t *a);
/* Frees n records and the array. */
void ag_agents_free(ag_agent_t *a, size_t n);

/* What a creation or a replacement writes; the store borrows every string. NULL JSON texts become
 * "[]", "[]" and "{}", a NULL status "active". */
typedef struct ag_agent_new_s {
    const char *name, *domain, *script;
    const char *capabilities, *tools, *config;
    const char *status;
} ag_agent_new_t;

/* Live figures of one agent record's tasks. */
typedef struct ag_agent_stats_s {
    int64_t running, succeeded, failed; /* failed counts failed (retry due) and dead tasks */
    char *last_error;                   /* the error of the most recently updated failed/dead task, or NULL */
    int64_t last_error_at;              /* its updated_at (ms), 0 when none */
} ag_agent_stats_t;

void ag_agent_stats_clear(ag_agent_stats_t *st);

#define AG_AGENT_LIST_MAX 200

/* One entry of the event log (table events): a task transition, or another engine event with data. */
typedef struct ag_event_s {
    int64_t id, task_id, at; /* task_id 0 when not a task event */
    char *type, *domain, *from, *to, *detail, *data; /* data: JSON text or NULL */
} ag_event_t;

void ag_events_free(ag_event_t *e, size_t n);

/* An outgoing webhook subscription (/api/v1/webhook-subscriptions). events is a JSON array of type
 * patterns (events.h syntax); secret signs deliveries and is never shown by the API. */
typedef struct ag_webhook_sub_s {
    int64_t id;
    char *url, *events, *secret;
    int active;
    int64_t created_at, updated_at; /* ms */
} ag_webhook_sub_t;

void ag_webhook_sub_clear(ag_webhook_sub_t *w);
void ag_webhook_subs_free(ag_webhook_sub_t *w, size_t n);

/* What a creation or replacement writes (borrowed). secret NULL on a replacement keeps the old one. */
typedef struct ag_webhook_sub_new_s {
    const char *url, *events, *secret;
    int active;
} ag_webhook_sub_new_t;

/* One delivery attempt (table webhook_deliveries). status: pending, delivered, failed or dead. */
typedef struct ag_webhook_delivery_s {
    int64_t id, subscription_id, event_id;
    int attempt, http_status; /* http_status 0: none (not sent yet, or a transport error) */
    char *status, *error;
    int64_t next_attempt_at, created_at, delivered_at; /* ms; delivered_at 0 while pending */
} ag_webhook_delivery_t;

void ag_webhook_deliveries_free(ag_webhook_delivery_t *d, size_t n);

/* A claimed delivery, with what sending it needs. */
typedef struct ag_webhook_job_s {
    int64_t delivery_id, subscription_id;
    int attempt;
    char *url, *secret;
    ag_event_t event;
} ag_webhook_job_t;

void ag_webhook_job_clear(ag_webhook_job_t *j);

/* The result of one attempt. ok: delivered. Otherwise the attempt is failed and a next one is due at
 * retry_at, or (retry_at 0) it is dead. release: the attempt was not made (shutdown); it is due now. */
typedef struct ag_webhook_result_s {
    int64_t delivery_id;
    int ok, release, http_status;
    const char *error;
    int64_t retry_at;
} ag_webhook_result_t;

#define AG_WEBHOOK_LIST_MAX 200

/* One LLM call (engine/llm): the journal row. Strings are borrowed on the way in, owned on the way out
 * (free a list with ag_llm_calls_free). response is the normalized response JSON or NULL on failure. */
typedef struct ag_llm_call_s {
    int64_t id, task_id;
    int attempt, seq;
    char *domain, *provider, *model;
    char request_hash[17];
    char *response;
    int64_t prompt_tokens, completion_tokens;
    double cost;
    int64_t latency_ms;
    char *error_code, *error; /* NULL on success */
    int64_t created_at;
} ag_llm_call_t;

void ag_llm_calls_free(ag_llm_call_t *calls, size_t n);

#define AG_LLM_CALL_LIST_MAX 200 /* the API's page size limit (the store takes any limit) */

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
    /* Up to limit (1..AG_TASK_LIST_MAX) tasks matching f, newest first (id descending), with ids below
     * before_id (0: from the newest). *out is a new array of *n tasks (free each with ag_task_clear, then the
     * array); *next is the id to pass as before_id for the next page, or 0 when this page is the last. */
    int (*task_list)(ag_store_t *s, const ag_task_filter_t *f, int64_t before_id, int limit, ag_task_t **out,
                     size_t *n, int64_t *next, ag_err_t *err);
    /* A dead or failed task goes back to queued now, with its attempts reset to 0 (out filled);
     * AG_ESTATE (out filled) for any other state, AG_ENOTFOUND for an unknown task. */
    int (*task_retry)(ag_store_t *s, int64_t id, ag_task_t *out, ag_err_t *err);

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
    /* The event log. events_after: up to limit events with id > after, oldest first (new array).
     * event_add: appends a non-task event (data: JSON object text) and returns its id.
     * events_last_id: the newest id, 0 when the log is empty. */
    int (*events_after)(ag_store_t *s, int64_t after, int limit, ag_event_t **out, size_t *n, ag_err_t *err);
    int (*event_add)(ag_store_t *s, const char *type, const char *domain, const char *data, int64_t *id,
                     ag_err_t *err);
    int (*events_last_id)(ag_store_t *s, int64_t *id, ag_err_t *err);
    /* Number of tasks in each state (counts[AG_TASK__NSTATES]), for queue-depth metrics. */
    int (*task_counts)(ag_store_t *s, int64_t *counts, ag_err_t *err);
    /* The earliest run_at of a task waiting to be claimed, or 0 when none. */
    int (*next_due)(ag_store_t *s, int64_t *run_at, ag_err_t *err);

    /* Domain KV: values are JSON texts. get: AG_ENOTFOUND when absent or expired; *out is new.
     * set: ttl_ms > 0 expires the key that many ms from now; 0 = never (and clears an earlier ttl).
     * incr: atomically adds by to the integer stored at key and sets *out to the new value; a missing or
     * expired key counts from 0 and takes ttl_ms (0 = never); an existing key keeps its expiry. AG_ESTATE
     * when the stored value is not an integer or the sum leaves int64 (err says which). Writes purge
     * expired keys lazily, in bounded batches. */
    int (*kv_get)(ag_store_t *s, const char *domain, const char *key, char **out, ag_err_t *err);
    int (*kv_set)(ag_store_t *s, const char *domain, const char *key, const char *value, int64_t ttl_ms,
                  ag_err_t *err);
    int (*kv_incr)(ag_store_t *s, const char *domain, const char *key, int64_t by, int64_t ttl_ms, int64_t *out,
                   ag_err_t *err);
    int (*kv_del)(ag_store_t *s, const char *domain, const char *key, ag_err_t *err);
    /* A domain's live keys that start with prefix ("" = all), in key order after after_key (NULL: from the
     * start), at most limit: keys[i] and values[i] (JSON) malloc'd, in new arrays (free each, then the arrays). */
    int (*kv_list)(ag_store_t *s, const char *domain, const char *prefix, const char *after_key, int limit,
                   char ***keys, char ***values, int64_t **updated_at, size_t *n, ag_err_t *err);

    /* Records a script version (content hash) once. */
    int (*script_version_put)(ag_store_t *s, const char *hash, const char *path, const char *source,
                              ag_err_t *err);

    /* Agent records (ag_agent_t). create: AG_EEXIST when domain already has an agent of that name. */
    int (*agent_create)(ag_store_t *s, const ag_agent_new_t *n, ag_agent_t *out, ag_err_t *err);
    /* AG_ENOTFOUND when there is no such record. */
    int (*agent_get)(ag_store_t *s, int64_t id, ag_agent_t *out, ag_err_t *err);
    /* Up to limit (1..AG_AGENT_LIST_MAX) records in id order, filtered by domain and status (NULL: any),
     * after cursor (NULL: from the first). *out is a new array of *n records (ag_agents_free); *next_cursor
     * is a new string to pass for the next page, or NULL on the last page. AG_EINVAL for a malformed cursor
     * or limit. */
    int (*agent_list)(ag_store_t *s, const char *domain, const char *status, const char *cursor, int limit,
                      ag_agent_t **out, size_t *n, char **next_cursor, ag_err_t *err);
    /* Replaces every field but id and created_at (out filled); AG_ENOTFOUND, or AG_EEXIST when the new
     * (domain, name) belongs to another record. *was_paused (NULL-safe) says the record was paused before. */
    int (*agent_replace)(ag_store_t *s, int64_t id, const ag_agent_new_t *n, ag_agent_t *out, int *was_paused,
                         ag_err_t *err);
    /* AG_ENOTFOUND; AG_ESTATE when the record has running tasks, unless force. The tasks are left alone. */
    int (*agent_delete)(ag_store_t *s, int64_t id, int force, ag_err_t *err);
    /* Counts of the record's tasks by state, and its last error; AG_ENOTFOUND for an unknown record. */
    int (*agent_stats)(ag_store_t *s, int64_t id, ag_agent_stats_t *out, ag_err_t *err);

    /* A task in state waiting (its work happens outside, e.g. reported by POST /webhooks/task/status)
     * ends: succeeded with result (JSON text), or failed with error: failed again due at retry_at when it
     * has attempts left, else dead. AG_ENOTFOUND; AG_ESTATE (out filled) when it is not waiting. */
    int (*task_finish_waiting)(ag_store_t *s, int64_t id, int succeeded, const char *result, const char *error,
                               int64_t retry_at, ag_task_t *out, ag_err_t *err);

    /* Outgoing webhooks (engine/webhooks.c, api/webhooks.c). A new subscription starts at the end of
     * the event log (it gets the events after its creation). get/replace/delete: AG_ENOTFOUND. */
    int (*webhook_sub_create)(ag_store_t *s, const ag_webhook_sub_new_t *n, ag_webhook_sub_t *out, ag_err_t *err);
    int (*webhook_sub_get)(ag_store_t *s, int64_t id, ag_webhook_sub_t *out, ag_err_t *err);
    /* Up to limit (1..AG_WEBHOOK_LIST_MAX) in id order after after_id; *next: the last id when more follow, else 0. */
    int (*webhook_sub_list)(ag_store_t *s, int64_t after_id, int limit, ag_webhook_sub_t **out, size_t *n,
                            int64_t *next, ag_err_t *err);
    int (*webhook_sub_replace)(ag_store_t *s, int64_t id, const ag_webhook_sub_new_t *n, ag_webhook_sub_t *out,
                               ag_err_t *err);
    int (*webhook_sub_delete)(ag_store_t *s, int64_t id, ag_err_t *err);
    /* One transaction: for every subscription, reads up to limit events after its cursor, adds a pending
     * delivery (attempt 1, due now) for each matching event when it is active, and moves the cursor. */
    int (*webhook_enqueue)(ag_store_t *s, int limit, size_t *added, ag_err_t *err);
    /* Claims up to max due pending deliveries of active subscriptions, pushing their due time lease_ms
     * ahead (a crash before webhook_record sends them again: at least once). *out: new array. */
    int (*webhook_claim)(ag_store_t *s, int max, int lease_ms, ag_webhook_job_t **out, size_t *n, ag_err_t *err);
    /* Records an attempt's result; a failure with retry_at adds the next attempt's pending row. */
    int (*webhook_record)(ag_store_t *s, const ag_webhook_result_t *r, ag_err_t *err);
    /* A subscription's deliveries in id order after after_id (as webhook_sub_list); AG_ENOTFOUND for
     * an unknown subscription. */
    int (*webhook_deliveries)(ag_store_t *s, int64_t sub_id, int64_t after_id, int limit,
                              ag_webhook_delivery_t **out, size_t *n, int64_t *next, ag_err_t *err);

    /* The LLM call journal (engine/llm, GET /api/v1/tasks/{id}/llm-calls). A successful call has a
     * response and no error_code. */
    /* Appends calls in one transaction (ids/created_at of the input are ignored; created_at = now).
     * domain, provider, model and request_hash are required (AG_EINVAL, nothing written). */
    int (*llm_calls_add)(ag_store_t *s, const ag_llm_call_t *calls, size_t n, ag_err_t *err);
    /* The response of the newest successful call of task_id with this seq and request hash, as
     * malloc'd JSON in *response; AG_ENOTFOUND when there is none. */
    int (*llm_call_find)(ag_store_t *s, int64_t task_id, int seq, const char *request_hash, char **response,
                         ag_err_t *err);
    /* A task's calls in (attempt, seq, id) order, after the call after_id in that order (0: from the start),
     * at most limit (>= 1). *out: a new array (ag_llm_calls_free), NULL when *n is 0. AG_EINVAL when
     * after_id is not a call of task_id. No check that the task exists. */
    int (*llm_calls_list)(ag_store_t *s, int64_t task_id, int64_t after_id, int limit, ag_llm_call_t **out,
                          size_t *n, ag_err_t *err);
    /* Cost spent: by one task (task_id > 0, all attempts), or else by domain since since_ms (inclusive). */
    int (*llm_spend)(ag_store_t *s, int64_t task_id, const char *domain, int64_t since_ms, double *out,
                     ag_err_t *err);
    /* ---- workflows, handoffs, approvals (store_sqlite_flow.c) ---- */
    /* Creates a workflow and its first task (queued, type/domain/agent given) in one transaction. */
    int (*workflow_create)(ag_store_t *s, const char *type, const char *domain, const char *agent, int max_attempts,
                           const char *input, ag_workflow_t *out, int64_t *task_id, ag_err_t *err);
    int (*workflow_get)(ag_store_t *s, int64_t id, ag_workflow_t *out, ag_err_t *err);
    /* Newest first, ids below before_id (0: from the newest); status/domain NULL = any. */
    int (*workflow_list)(ag_store_t *s, const char *status, const char *domain, int64_t before_id, int limit,
                         ag_workflow_t **out, size_t *n, ag_err_t *err);
    /* running -> cancelled: its queued/pending/failed/waiting tasks are cancelled at once, running ones are asked
     * to stop (*running = how many). AG_ESTATE (out filled) when it is not running. */
    int (*workflow_cancel)(ag_store_t *s, int64_t id, ag_workflow_t *out, size_t *running, ag_err_t *err);
    /* Oldest first, ids above after_id. */
    int (*handoff_list)(ag_store_t *s, const ag_handoff_filter_t *f, int64_t after_id, int limit, ag_handoff_t **out,
                        size_t *n, ag_err_t *err);
    /* The approval seq of a task (seq 0: its newest); AG_ENOTFOUND when there is none. */
    int (*approval_get)(ag_store_t *s, int64_t task_id, int seq, ag_approval_t *out, ag_err_t *err);
    /* Decides a waiting task's pending approval and queues the task again (its max_attempts grows by one, so the
     * resumed run does not use up a retry). AG_ENOTFOUND: no task; AG_ESTATE (out filled): not waiting for one. */
    int (*task_approve)(ag_store_t *s, int64_t id, int approve, const char *comment, const char *by, ag_task_t *out,
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
