/*
 * metrics.c: GET /metrics, the Prometheus text exposition. Counters and histograms are kept as they
 * happen (engine/metrics.c); the gauges that describe state (queue depth per state, scripts) are read
 * at scrape time.
 */
#include <string.h>

#include "../engine/log.h"
#include "../engine/metrics.h"
#include "http.h"

#define AG_LOG_MODULE "metrics"

static void refresh_gauges(ag_http_ctx_t *c)
{
    ag_engine_t *eng = c->w->eng;
    int64_t counts[AG_TASK__NSTATES];
    ag_err_t err;
    if (c->w->store->ops->task_counts(c->w->store, counts, &err) == 0) {
        for (int i = 0; i < AG_TASK__NSTATES; i++) {
            char l[64];
            snprintf(l, sizeof(l), "state=\"%s\"", ag_task_state_name((ag_task_state_t)i));
            ag_series_set(ag_series("agency_tasks", l), (double)counts[i]);
        }
    } else {
        AG_LOG(AG_LOG_WARN, "queue depth not available request_id=%s error=%s", c->request_id, err.msg);
    }
    ag_snapshot_t *snap = ag_scripts_acquire(eng->scripts);
    size_t good, bad;
    ag_snapshot_counts(snap, &good, &bad);
    ag_snapshot_release(snap);
    ag_series_set(ag_series("agency_scripts_loaded", ""), (double)good);
    ag_series_set(ag_series("agency_script_errors", ""), (double)bad);
}

void ag_api_metrics(ag_http_ctx_t *c)
{
    refresh_gauges(c);
    ag_buf_t b;
    ag_buf_init(&b);
    ag_metrics_render(&b);
    ag_http_send(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "", b.len);
    ag_buf_free(&b);
}
