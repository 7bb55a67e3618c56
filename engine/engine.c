/*
 * engine.c: starts the loop threads, routes wake-ups between them, and keeps the waiter table
 * (HTTP requests waiting for a task to finish, possibly on another thread).
 *
 * Waiters: a mutex-protected hash of task id -> waiters. A worker that stores terminal outcomes moves
 * the matching waiters into the inbox of the worker that registered them and wakes it (uv_async);
 * that worker runs the callbacks on its own loop. A waiter is in exactly one place, the table or an
 * inbox, so ag_engine_unwait (timeout, client gone) and a finish never both free it.
 */
#include "engine.h"

#include <curl/curl.h>
#include <signal.h>
#include <sys/resource.h>
#include <string.h>

#include "llm/llm.h"
#include "log.h"
#include "metrics.h"
#include "webhooks.h"

#define AG_LOG_MODULE "engine"
#define NBUCKETS 1024

struct ag_waiter_s {
    int64_t task_id;
    ag_worker_t *w;
    ag_waiter_cb cb;
    void *data;
    int where; /* 0 table, 1 inbox, 2 cancelled while in the inbox */
    ag_waiter_t *next;
};

/* ---- waiters ------------------------------------------------------------------------------------------------ */

ag_waiter_t *ag_engine_wait(ag_engine_t *eng, ag_worker_t *w, int64_t task_id, ag_waiter_cb cb, void *data)
{
    ag_waiter_t *wt = ag_xcalloc(1, sizeof(*wt));
    *wt = (ag_waiter_t){task_id, w, cb, data, 0, NULL};
    pthread_mutex_lock(&eng->waiters_mu);
    ag_waiter_t **b = &eng->buckets[(uint64_t)task_id % NBUCKETS];
    wt->next = *b;
    *b = wt;
    atomic_fetch_add(&eng->nwaiters, 1);
    pthread_mutex_unlock(&eng->waiters_mu);
    return wt;
}

void ag_engine_unwait(ag_engine_t *eng, ag_waiter_t *wt)
{
    pthread_mutex_lock(&eng->waiters_mu);
    if (wt->where == 0) {
        for (ag_waiter_t **p = &eng->buckets[(uint64_t)wt->task_id % NBUCKETS]; *p; p = &(*p)->next) {
            if (*p == wt) {
                *p = wt->next;
                break;
            }
        }
        atomic_fetch_sub(&eng->nwaiters, 1);
        free(wt);
    } else {
        wt->where = 2;
    }
    pthread_mutex_unlock(&eng->waiters_mu);
}

void ag_engine_tasks_finished(ag_engine_t *eng, const int64_t *ids, size_t n)
{
    if (atomic_load(&eng->nwaiters) == 0)
        return;
    pthread_mutex_lock(&eng->waiters_mu);
    for (size_t i = 0; i < n; i++) {
        ag_waiter_t **p = &eng->buckets[(uint64_t)ids[i] % NBUCKETS];
        while (*p) {
            ag_waiter_t *wt = *p;
            if (wt->task_id != ids[i]) {
                p = &wt->next;
                continue;
            }
            *p = wt->next;
            atomic_fetch_sub(&eng->nwaiters, 1);
            wt->where = 1;
            wt->next = wt->w->inbox;
            wt->w->inbox = wt;
            uv_async_send(&wt->w->wake);
        }
    }
    pthread_mutex_unlock(&eng->waiters_mu);
}

void ag__engine_drain_inbox(ag_worker_t *w)
{
    ag_engine_t *eng = w->eng;
    pthread_mutex_lock(&eng->waiters_mu);
    ag_waiter_t *list = w->inbox;
    w->inbox = NULL;
    pthread_mutex_unlock(&eng->waiters_mu);
    while (list) {
        ag_waiter_t *wt = list;
        list = wt->next;
        pthread_mutex_lock(&eng->waiters_mu);
        int cancelled = wt->where == 2;
        pthread_mutex_unlock(&eng->waiters_mu);
        if (!cancelled)
            wt->cb(wt->data);
        free(wt);
    }
}

/* ---- wake-ups ----------------------------------------------------------------------------------------------- */

void ag_engine_notify_queued(ag_engine_t *eng)
{
    for (int i = 0; i < eng->nworkers; i++)
        uv_async_send(&eng->workers[i].wake);
}

void ag_engine_notify_cancel(ag_engine_t *eng)
{
    for (int i = 0; i < eng->nworkers; i++) {
        atomic_store(&eng->workers[i].check_cancels, 1);
        uv_async_send(&eng->workers[i].wake);
    }
}

/* ---- lifecycle ---------------------------------------------------------------------------------------------- */

/* Thousands of LLM calls in flight need as many sockets: take the hard limit of open files. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int ag_engine_init(ag_engine_t *eng, const ag_config_t *cfg, ag_err_t *err)
{
    memset(eng, 0, sizeof(*eng));
    eng->cfg = *cfg;
    eng->started_ms = ag_now_ms();
    ag_metrics_init();
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: not thread-safe in every libcurl */
    raise_fd_limit();
    eng->inotify_fd = -1;
    pthread_mutex_init(&eng->waiters_mu, NULL);
    eng->buckets = ag_xcalloc(NBUCKETS, sizeof(*eng->buckets));
    ag_store_t *st;
    int rc = ag_store_open(&st, cfg->database_url, err);
    if (rc != 0)
        return rc;
    int applied = 0;
    rc = st->ops->migrate(st, &applied, err);
    ag_store_close(st);
    if (rc != 0)
        return rc;
    if (applied > 0)
        AG_LOG(AG_LOG_INFO, "migrations applied count=%d", applied);
    if ((rc = ag_scripts_new(&eng->scripts, cfg->domains, err)) != 0)
        return rc;
    eng->llm = ag_llm_shared_new(&cfg->llm);
    eng->nworkers = cfg->threads;
    eng->workers = ag_xcalloc((size_t)eng->nworkers, sizeof(ag_worker_t));
    return 0;
}

static int worker_init(ag_engine_t *eng, int i, ag_err_t *err)
{
    ag_worker_t *w = &eng->workers[i];
    w->eng = eng;
    w->index = i;
    uv_loop_init(&w->loop);
    int rc = ag_store_open(&w->store, eng->cfg.database_url, err);
    if (rc != 0)
        return rc;
    if ((rc = ag_llm_loop_new(&w->llm, &w->loop, eng->llm, w->store, err)) != 0)
        return rc;
    ag_rt_opts_t o = {.loop = &w->loop,
                      .store = w->store,
                      .llm = w->llm,
                      .scripts = eng->scripts,
                      .cpu_budget = eng->cfg.cpu_budget,
                      .memory_limit = eng->cfg.memory_limit};
    if ((rc = ag_rt_new(&w->rt, &o, err)) != 0)
        return rc;
    if ((rc = ag_queue_init(w, err)) != 0)
        return rc;
    return ag_http_listen(w, err);
}

static void *worker_main(void *arg)
{
    ag_worker_t *w = arg;
    ag_queue_start(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    return NULL;
}

static uv_signal_t sigint_h, sigterm_h;

static void on_signal(uv_signal_t *h, int signum)
{
    ag_engine_t *eng = h->data;
    AG_LOG(AG_LOG_INFO, "stopping signal=%d", signum);
    atomic_store(&eng->stopping, 1);
    ag_engine_notify_queued(eng);
}

int ag_engine_run(ag_engine_t *eng, ag_err_t *err)
{
    ag_http_global_init(eng);
    for (int i = 0; i < eng->nworkers; i++) {
        int rc = worker_init(eng, i, err);
        if (rc != 0)
            return rc;
    }
    ag_worker_t *w0 = &eng->workers[0];
    atomic_store(&eng->ready, 1);
    int rc = ag_reload_start(eng, err);
    if (rc != 0)
        return rc;
    if ((rc = ag_webhooks_start(eng, err)) != 0)
        return rc;
    uv_signal_init(&w0->loop, &sigint_h);
    uv_signal_init(&w0->loop, &sigterm_h);
    sigint_h.data = sigterm_h.data = eng;
    uv_signal_start(&sigint_h, on_signal, SIGINT);
    uv_signal_start(&sigterm_h, on_signal, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    size_t good, bad;
    ag_snapshot_t *snap = ag_scripts_acquire(eng->scripts);
    ag_snapshot_counts(snap, &good, &bad);
    ag_snapshot_release(snap);
    AG_LOG(AG_LOG_INFO, "serving listen=%s:%d threads=%d store=%s scripts=%zu script_errors=%zu",
           eng->cfg.listen_host, eng->cfg.listen_port, eng->nworkers, eng->workers[0].store->ops->name, good, bad);
    for (int i = 1; i < eng->nworkers; i++)
        pthread_create(&eng->workers[i].thread, NULL, worker_main, &eng->workers[i]);
    worker_main(w0);
    for (int i = 1; i < eng->nworkers; i++)
        pthread_join(eng->workers[i].thread, NULL);
    ag_reload_stop(eng);
    ag_webhooks_stop(eng);
    AG_LOG(AG_LOG_INFO, "stopped");
    return 0;
}

void ag_engine_destroy(ag_engine_t *eng)
{
    /* Loops have stopped; handles die with the process. Release what other processes could see. */
    for (int i = 0; i < eng->nworkers; i++) {
        ag_worker_t *w = &eng->workers[i];
        for (size_t k = 0; k < w->npend; k++) {
            free(w->pend[k].result);
            free(w->pend[k].error);
            free(w->pend[k].workflow_id);
            ag_handoffs_new_free(w->pend[k].handoffs, w->pend[k].nhandoffs);
            free((char *)w->pend[k].approval.reason);
            free((char *)w->pend[k].approval.data);
        }
        free(w->pend);
        free(w->running);
        if (w->llm)
            ag_llm_loop_flush(w->llm);
        ag_rt_free(w->rt);
        ag_store_close(w->store);
    }
    free(eng->workers);
    ag_scripts_free(eng->scripts);
    free(eng->buckets);
    ag_llm_shared_free(eng->llm);
}
