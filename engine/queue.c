/*
 * queue.c: a worker's side of the task queue (DESIGN §4).
 *
 * The pump is a uv_idle handle, active only while there is work: each turn it makes one store round
 * trip that applies the outcomes gathered since the last turn and claims the next batch (group
 * commit), then starts the claimed runs. When a claim comes back short the pump stops, and the worker
 * sleeps until a wake-up (uv_async from whoever queued a task), the timer of the earliest delayed task,
 * or a waiting run's end. Nothing polls while idle except the lease timers (renewal and recovery).
 *
 * States: pending -> queued -> running -> succeeded | failed (retry due at run_at) -> running ... | dead
 * | cancelled. The store records every transition (and refuses outcomes for tasks no longer leased to
 * this worker).
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "metrics.h"

#define AG_LOG_MODULE "queue"

/* The metric series of one (domain, agent): resolved once per worker and kept. */
typedef struct task_series_s {
    struct task_series_s *next;
    char *domain, *agent;
    ag_series_t *outcome[4]; /* succeeded, failed, dead, cancelled */
    ag_series_t *duration;
} task_series_t;

typedef struct run_ctx_s {
    ag_worker_t *w;
    int64_t id;
    int attempt, max_attempts;
    task_series_t *series;
    int64_t start_ms;
    char *type, *domain, *workflow_id, *input; /* for the handoffs of a success */
} run_ctx_t;

/* AGENCY_TEST_FAULT=handoff: die after a success's handoffs are transformed and before they are stored (the
 * integration tests prove that this leaves neither half behind). Never set it in production. */
static int fault_handoff(void)
{
    static int v = -1;
    if (v < 0) {
        const char *f = getenv("AGENCY_TEST_FAULT");
        v = f != NULL && strcmp(f, "handoff") == 0;
    }
    return v;
}

static void ctx_free(run_ctx_t *ctx)
{
    free(ctx->type);
    free(ctx->domain);
    free(ctx->workflow_id);
    free(ctx->input);
    free(ctx);
}

/* Frees what a pending outcome owns. */
static void pending_clear(ag_pending_t *p)
{
    free(p->result);
    free(p->error);
    free(p->workflow_id);
    ag_handoffs_new_free(p->handoffs, p->nhandoffs);
    free((char *)p->approval.reason);
    free((char *)p->approval.data);
}

static task_series_t *series_for(ag_worker_t *w, const char *domain, const char *agent)
{
    task_series_t *ts = w->task_series;
    for (; ts; ts = ts->next)
        if (strcmp(ts->agent, agent) == 0 && strcmp(ts->domain, domain) == 0)
            return ts;
    ts = ag_xcalloc(1, sizeof(*ts));
    ts->domain = ag_xstrdup(domain);
    ts->agent = ag_xstrdup(agent);
    static const char *outcomes[4] = {"succeeded", "failed", "dead", "cancelled"};
    ag_buf_t l;
    ag_buf_init(&l);
    ag_metrics_label(&l, "domain", domain);
    ag_metrics_label(&l, "agent", agent);
    ts->duration = ag_series("agency_task_duration_seconds", l.data);
    size_t base = l.len;
    for (int i = 0; i < 4; i++) {
        l.len = base;
        ag_metrics_label(&l, "outcome", outcomes[i]);
        ts->outcome[i] = ag_series("agency_tasks_total", l.data);
    }
    ag_buf_free(&l);
    ts->next = w->task_series;
    w->task_series = ts;
    return ts;
}

int64_t ag_queue_backoff_ms(int attempt, int base_ms, int max_ms, double unit_random)
{
    if (base_ms <= 0)
        base_ms = 1000;
    if (max_ms <= 0)
        max_ms = 300000;
    double d = (double)base_ms * pow(2.0, attempt > 1 ? attempt - 1 : 0);
    if (d > max_ms)
        d = max_ms;
    d *= 0.8 + 0.4 * unit_random; /* +-20% jitter: retries of a burst do not come back together */
    if (d > max_ms)
        d = max_ms; /* jitter spreads a capped burst downwards only */
    return (int64_t)d;
}

static void track(ag_worker_t *w, ag_run_t *run)
{
    if (w->nrunning == w->caprunning)
        w->running = ag_xrealloc(w->running, (w->caprunning = w->caprunning ? w->caprunning * 2 : 64) *
                                                 sizeof(*w->running));
    w->running[w->nrunning++] = run;
}

static void untrack(ag_worker_t *w, ag_run_t *run)
{
    for (size_t i = 0; i < w->nrunning; i++) {
        if (w->running[i] == run) {
            w->running[i] = w->running[--w->nrunning];
            return;
        }
    }
}

static void on_run_end(ag_run_t *run, ag_run_end_t *end, void *data)
{
    run_ctx_t *ctx = data;
    ag_worker_t *w = ctx->w;
    untrack(w, run);
    if (w->npend == w->cappend)
        w->pend = ag_xrealloc(w->pend, (w->cappend = w->cappend ? w->cappend * 2 : 128) * sizeof(*w->pend));
    ag_pending_t *p = &w->pend[w->npend++];
    memset(p, 0, sizeof(*p));
    p->o.id = ctx->id;
    memcpy(p->version, end->version, sizeof(p->version));
    p->result = end->result;
    end->result = NULL;
    p->error = end->error;
    end->error = NULL;
    p->workflow_id = ctx->workflow_id;
    ctx->workflow_id = NULL;
    switch (end->status) {
    case AG_RUN_OK: {
        p->o.state = AG_TASK_SUCCEEDED;
        atomic_fetch_add(&w->done, 1);
        ag_handoff_src_t src = {.task_id = ctx->id, .type = ctx->type, .domain = ctx->domain,
                                .workflow_id = p->workflow_id, .input = ctx->input, .result = p->result};
        if (ctx->type != NULL)
            p->nhandoffs = ag_rt_handoffs(w->rt, &src, &p->handoffs);
        if (p->nhandoffs > 0 && fault_handoff()) {
            AG_LOG(AG_LOG_ERROR, "AGENCY_TEST_FAULT=handoff: dying between transform and trigger task=%lld",
                   (long long)ctx->id);
            abort();
        }
        break;
    }
    case AG_RUN_WAITING:
        p->o.state = AG_TASK_WAITING;
        p->approval.seq = end->approval_seq;
        p->approval.reason = end->approval_reason;
        p->approval.data = end->approval_data;
        end->approval_reason = end->approval_data = NULL;
        AG_LOG(AG_LOG_INFO, "task waiting for approval task=%lld seq=%d reason=\"%s\"", (long long)ctx->id,
               p->approval.seq, p->approval.reason ? p->approval.reason : "");
        break;
    case AG_RUN_CANCELLED:
        p->o.state = AG_TASK_CANCELLED;
        break;
    case AG_RUN_ERROR:
        atomic_fetch_add(&w->failed, 1);
        if (end->retryable && ctx->attempt < ctx->max_attempts) {
            p->o.state = AG_TASK_FAILED;
            p->o.run_at = ag_now_ms() + ag_queue_backoff_ms(ctx->attempt, end->retry_base_ms, end->retry_max_ms,
                                                            (double)rand() / RAND_MAX);
            AG_LOG(AG_LOG_INFO, "task retry task=%lld attempt=%d max=%d error=%s", (long long)ctx->id, ctx->attempt,
                   ctx->max_attempts, p->error ? p->error : "");
        } else {
            p->o.state = AG_TASK_DEAD;
            AG_LOG(AG_LOG_WARN, "task dead task=%lld attempts=%d error=%s", (long long)ctx->id, ctx->attempt,
                   p->error ? p->error : "");
        }
        break;
    }
    static const int slot[AG_TASK__NSTATES] = {[AG_TASK_SUCCEEDED] = 0, [AG_TASK_FAILED] = 1, [AG_TASK_DEAD] = 2,
                                               [AG_TASK_CANCELLED] = 3, [AG_TASK_WAITING] = -1};
    if (slot[p->o.state] >= 0)
        ag_series_add(ctx->series->outcome[slot[p->o.state]], 1);
    ag_series_observe(ctx->series->duration, (double)(ag_now_ms() - ctx->start_ms) / 1000.0);
    ctx_free(ctx);
    ag_queue_kick(w);
}

static void arm_due(ag_worker_t *w);
static void on_due(uv_timer_t *t);
static void on_heartbeat(uv_timer_t *t);

static void on_pump(uv_idle_t *h)
{
    ag_worker_t *w = ag_container_of(h, ag_worker_t, pump);
    const ag_config_t *cfg = &w->eng->cfg;
    int room = cfg->concurrency - ag_rt_waiting(w->rt);
    int max = room < cfg->claim_batch ? room : cfg->claim_batch;
    if (max < 0 || atomic_load(&w->eng->stopping))
        max = 0;

    size_t n = w->npend;
    ag_outcome_t stackbuf[256];
    ag_outcome_t *outs = n <= 256 ? stackbuf : ag_xmalloc(n * sizeof(*outs));
    int64_t stackids[256];
    int64_t *terminal = n <= 256 ? stackids : ag_xmalloc(n * sizeof(*terminal));
    size_t nterminal = 0;
    int handed_off = 0;
    for (size_t i = 0; i < n; i++) {
        outs[i] = w->pend[i].o;
        outs[i].result = w->pend[i].result;
        outs[i].error = w->pend[i].error;
        outs[i].script_version = w->pend[i].version[0] ? w->pend[i].version : NULL;
        outs[i].workflow_id = w->pend[i].workflow_id;
        outs[i].handoffs = w->pend[i].handoffs;
        outs[i].nhandoffs = w->pend[i].nhandoffs;
        outs[i].approval = outs[i].state == AG_TASK_WAITING ? &w->pend[i].approval : NULL;
        for (size_t k = 0; k < w->pend[i].nhandoffs; k++)
            handed_off |= w->pend[i].handoffs[k].accepted;
        if (ag_task_state_terminal(outs[i].state))
            terminal[nterminal++] = outs[i].id;
    }
    ag_claim_t *claimed = NULL;
    size_t nclaimed = 0;
    ag_err_t err;
    int rc = w->store->ops->sync(w->store, outs, n, w->owner, max, cfg->lease_ms, &claimed, &nclaimed, &err);
    if (outs != stackbuf)
        free(outs);
    if (rc != 0) {
        /* Keep the outcomes and try again shortly: the store may be busy or briefly unavailable. */
        AG_LOG(AG_LOG_ERROR, "store sync failed worker=%d pending=%zu error=%s", w->index, n, err.msg);
        if (terminal != stackids)
            free(terminal);
        uv_idle_stop(&w->pump);
        w->pumping = 0;
        uv_timer_start(&w->due, on_due, 100, 0);
        return;
    }
    for (size_t i = 0; i < n; i++)
        pending_clear(&w->pend[i]);
    w->npend = 0;
    if (handed_off)
        ag_engine_notify_queued(w->eng); /* the handoffs' target tasks are queued */
    if (nterminal > 0)
        ag_engine_tasks_finished(w->eng, terminal, nterminal);
    if (terminal != stackids)
        free(terminal);

    for (size_t i = 0; i < nclaimed; i++) {
        ag_claim_t *c = &claimed[i];
        run_ctx_t *ctx = ag_xmalloc(sizeof(*ctx));
        *ctx = (run_ctx_t){w, c->id, c->attempts, c->max_attempts, series_for(w, c->domain, c->agent), ag_now_ms(),
                           c->type, c->domain, c->workflow_id, c->input};
        c->type = c->domain = c->workflow_id = c->input = NULL; /* the context owns them now */
        ag_run_spec_t spec = {.task_id = c->id, .type = ctx->type, .domain = ctx->domain, .agent = c->agent,
                              .input = ctx->input, .workflow_id = ctx->workflow_id, .attempt = c->attempts};
        ag_run_t *run;
        ag_rt_start(w->rt, &spec, on_run_end, ctx, &run);
        if (run != NULL)
            track(w, run);
    }
    ag_claims_free(claimed, nclaimed);

    if ((int)nclaimed < max || max == 0) {
        if (w->npend == 0) {
            uv_idle_stop(&w->pump);
            w->pumping = 0;
            if (max > 0)
                arm_due(w);
        }
    }
    if (atomic_load(&w->eng->stopping) && w->npend == 0) {
        /* Stopping: what this worker held is stored; runs still waiting keep their leases. */
        uv_idle_stop(&w->pump);
        w->pumping = 0;
        ag_http_close(w);
        uv_stop(&w->loop);
    }
}

void ag_queue_kick(ag_worker_t *w)
{
    if (!w->pumping) {
        w->pumping = 1;
        uv_idle_start(&w->pump, on_pump);
    }
}

static void on_due(uv_timer_t *t)
{
    ag_worker_t *w = ag_container_of(t, ag_worker_t, due);
    ag_queue_kick(w);
}

/* Sleeps until the earliest delayed task is due (or a wake-up comes first). */
static void arm_due(ag_worker_t *w)
{
    int64_t at = 0;
    ag_err_t err;
    if (w->store->ops->next_due(w->store, &at, &err) != 0) {
        AG_LOG(AG_LOG_ERROR, "store next_due failed worker=%d error=%s", w->index, err.msg);
        uv_timer_start(&w->due, on_due, 1000, 0);
        return;
    }
    if (at == 0) {
        uv_timer_stop(&w->due);
        return;
    }
    int64_t delay = at - ag_now_ms();
    /* Due already but not claimed: another worker holds it or just took it; look again shortly. */
    uv_timer_start(&w->due, on_due, (uint64_t)(delay > 5 ? delay : 5), 0);
}

static void on_wake(uv_async_t *a)
{
    ag_worker_t *w = ag_container_of(a, ag_worker_t, wake);
    ag__engine_drain_inbox(w);
    if (atomic_exchange(&w->check_cancels, 0))
        on_heartbeat(&w->heartbeat);
    ag_queue_kick(w);
}

/* Renews the leases of this worker's waiting runs, and stops those whose cancellation was requested. */
static void on_heartbeat(uv_timer_t *t)
{
    ag_worker_t *w = ag_container_of(t, ag_worker_t, heartbeat);
    if (w->nrunning == 0)
        return;
    int64_t *ids = ag_xmalloc(w->nrunning * sizeof(*ids));
    for (size_t i = 0; i < w->nrunning; i++)
        ids[i] = ag_run_task_id(w->running[i]);
    int64_t *cancel = NULL;
    size_t ncancel = 0;
    ag_err_t err;
    if (w->store->ops->heartbeat(w->store, w->owner, ids, w->nrunning, w->eng->cfg.lease_ms, &cancel, &ncancel,
                                 &err) != 0)
        AG_LOG(AG_LOG_ERROR, "lease renewal failed worker=%d error=%s", w->index, err.msg);
    free(ids);
    for (size_t i = 0; i < ncancel; i++) {
        for (size_t j = 0; j < w->nrunning; j++) {
            if (ag_run_task_id(w->running[j]) == cancel[i]) {
                AG_LOG(AG_LOG_INFO, "task cancelled while running task=%lld", (long long)cancel[i]);
                ag_rt_cancel(w->running[j]); /* on_run_end untracks it */
                break;
            }
        }
    }
    free(cancel);
}

/* Puts back tasks whose lease expired (a crashed engine or a lost worker). */
static void on_recover(uv_timer_t *t)
{
    ag_worker_t *w = ag_container_of(t, ag_worker_t, recover);
    size_t n = 0;
    ag_err_t err;
    if (w->store->ops->recover(w->store, &n, &err) != 0) {
        AG_LOG(AG_LOG_ERROR, "lease recovery failed error=%s", err.msg);
        return;
    }
    if (n > 0) {
        AG_LOG(AG_LOG_WARN, "recovered tasks with expired leases count=%zu", n);
        ag_engine_notify_queued(w->eng);
    }
}

int ag_queue_init(ag_worker_t *w, ag_err_t *err)
{
    (void)err;
    ag_metrics_init(); /* idempotent: the series this worker records must exist */
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    snprintf(w->owner, sizeof(w->owner), "%s:%d:%d", host, (int)getpid(), w->index);
    uv_idle_init(&w->loop, &w->pump);
    uv_async_init(&w->loop, &w->wake, on_wake);
    uv_timer_init(&w->loop, &w->due);
    uv_timer_init(&w->loop, &w->heartbeat);
    uv_timer_init(&w->loop, &w->recover);
    return 0;
}

void ag_queue_start(ag_worker_t *w)
{
    uint64_t lease = (uint64_t)w->eng->cfg.lease_ms;
    uv_timer_start(&w->heartbeat, on_heartbeat, lease / 3, lease / 3);
    if (w->index == 0) {
        on_recover(&w->recover); /* at start: a crashed engine's tasks */
        uv_timer_start(&w->recover, on_recover, lease / 2, lease / 2);
    }
    ag_queue_kick(w);
}

void ag_queue_close(ag_worker_t *w)
{
    while (w->task_series) { /* the series themselves live in the global metrics registry */
        task_series_t *ts = w->task_series;
        w->task_series = ts->next;
        free(ts->domain);
        free(ts->agent);
        free(ts);
    }
    uv_close((uv_handle_t *)&w->pump, NULL);
    uv_close((uv_handle_t *)&w->wake, NULL);
    uv_close((uv_handle_t *)&w->due, NULL);
    uv_close((uv_handle_t *)&w->heartbeat, NULL);
    uv_close((uv_handle_t *)&w->recover, NULL);
}
