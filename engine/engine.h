/*
 * engine.h: the running engine: configuration, the script registry, and one worker per loop thread.
 *
 * Each worker owns a libuv loop, a store connection, a Lua runtime, a queue pump and an h2o context
 * (STYLE §1: objects belong to one loop thread; other threads reach them through uv_async_t). The
 * engine's only shared state is the script registry, the waiter table and atomics.
 */
#ifndef AG_ENGINE_H
#define AG_ENGINE_H

#include <h2o.h>
#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#include "config.h"
#include "lua/runtime.h"
#include "lua/scripts.h"
#include "store.h"

typedef struct ag_engine_s ag_engine_t;
typedef struct ag_worker_s ag_worker_t;
typedef struct ag_waiter_s ag_waiter_t;

/* A pending outcome, owning its strings until the next store round trip. */
typedef struct ag_pending_s {
    ag_outcome_t o;
    char *result, *error;
    char version[17];
    char *workflow_id;
    ag_handoff_new_t *handoffs; /* evaluated at success (lua/handoffs.c) */
    size_t nhandoffs;
    ag_approval_new_t approval; /* waiting: its reason and data are owned */
} ag_pending_t;

struct ag_worker_s {
    ag_engine_t *eng;
    int index;
    pthread_t thread;
    uv_loop_t loop;
    ag_store_t *store;
    ag_rt_t *rt;
    struct ag_llm_loop_s *llm; /* LLM calls made on this loop (llm/llm.h) */
    char owner[160];
    /* queue (queue.c) */
    uv_idle_t pump;
    uv_async_t wake;
    uv_timer_t due, heartbeat, recover, reload_debounce;
    int pumping, due_armed;
    atomic_int check_cancels;
    ag_pending_t *pend;
    size_t npend, cappend;
    ag_run_t **running;
    struct task_series_s *task_series; /* queue.c: metric series per (domain, agent) */
    size_t nrunning, caprunning;
    /* waiters moved here by other threads (engine.c) */
    ag_waiter_t *inbox;
    /* HTTP (api/server.c) */
    h2o_context_t h2o_ctx;
    h2o_accept_ctx_t accept_ctx;
    uv_tcp_t listener;
    int listening;
    void *api_tasks; /* api/tasks.c: the creation batch */
    void *api_events; /* api/events.c: this loop's SSE clients and their timer */
    /* counters for health */
    atomic_uint_fast64_t done, failed;
};

struct ag_engine_s {
    ag_config_t cfg;
    ag_scripts_t *scripts;
    ag_worker_t *workers;
    int nworkers;
    int64_t started_ms;
    h2o_globalconf_t h2o_globalconf;
    int listen_fd;
    atomic_int stopping;
    atomic_int ready; /* every worker is set up (wake-ups can be sent): agency demo waits for it */
    /* waiters (engine.c) */
    pthread_mutex_t waiters_mu;
    ag_waiter_t **buckets;
    atomic_int nwaiters;
    /* hot reload (reload.c), on worker 0's loop */
    int inotify_fd;
    uv_poll_t inotify_poll;
    /* outgoing webhooks (webhooks.c): the delivery thread, NULL until started */
    struct ag_webhooks_s *webhooks;
    /* LLM providers' limits and breakers, shared by the loops (llm/llm.h) */
    struct ag_llm_shared_s *llm;
};

/* ---- engine.c ---- */
int ag_engine_init(ag_engine_t *eng, const ag_config_t *cfg, ag_err_t *err);
/* Runs every loop thread (the calling thread runs worker 0) until a signal asks to stop. */
int ag_engine_run(ag_engine_t *eng, ag_err_t *err);
void ag_engine_destroy(ag_engine_t *eng);
/* Wakes every worker's pump: new tasks may be due. Any thread. */
void ag_engine_notify_queued(ag_engine_t *eng);
/* Asks every worker to check its running tasks for cancellation now. Any thread. */
void ag_engine_notify_cancel(ag_engine_t *eng);

/* Waiting for a task to reach a terminal state, from a worker's thread. cb runs on that worker's loop,
 * once, unless ag_engine_unwait came first. */
typedef void (*ag_waiter_cb)(void *data);
ag_waiter_t *ag_engine_wait(ag_engine_t *eng, ag_worker_t *w, int64_t task_id, ag_waiter_cb cb, void *data);
void ag_engine_unwait(ag_engine_t *eng, ag_waiter_t *wt);
/* Called by a worker after it stored terminal outcomes. Any thread. */
void ag_engine_tasks_finished(ag_engine_t *eng, const int64_t *ids, size_t n);
/* Runs the waiters moved to w's inbox. w's thread. */
void ag__engine_drain_inbox(ag_worker_t *w);

/* ---- queue.c ---- */
int ag_queue_init(ag_worker_t *w, ag_err_t *err);
void ag_queue_start(ag_worker_t *w);
void ag_queue_close(ag_worker_t *w);
/* Starts the pump on w's own thread. */
void ag_queue_kick(ag_worker_t *w);
/* Backoff before attempt+1, given the attempt that failed (1-based): exponential with jitter. */
int64_t ag_queue_backoff_ms(int attempt, int base_ms, int max_ms, double unit_random);

/* ---- demo.c: `agency demo [--scenario FILE] [--live]`; returns the exit status ---- */
int ag_cmd_demo(const ag_config_t *cfg, int argc, char **argv);

/* ---- replay.c: `agency replay TASK_ID [--attempt N]`; returns the exit status ---- */
int ag_cmd_replay(const ag_config_t *cfg, int argc, char **argv);

/* ---- testrun.c: `agency test [PATH] [--filter TEXT] [-v]`; returns the exit status ---- */
int ag_cmd_test(const ag_config_t *cfg, int argc, char **argv);

/* ---- reload.c ---- */
int ag_reload_start(ag_engine_t *eng, ag_err_t *err);
void ag_reload_stop(ag_engine_t *eng);

/* ---- api/server.c ---- */
int ag_http_listen(ag_worker_t *w, ag_err_t *err);
void ag_http_close(ag_worker_t *w);
void ag_http_global_init(ag_engine_t *eng);

#endif
