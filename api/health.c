/* health.c: GET /api/v1/health: the store, the loop threads, the scripts and the LLM providers, each with a
 * status. */
#include <string.h>

#include "../engine/llm/llm.h"
#include "http.h"

void ag_api_health(ag_http_ctx_t *c)
{
    ag_engine_t *eng = c->w->eng;
    ag_err_t err;
    int store_ok = c->w->store->ops->ping(c->w->store, &err) == 0;
    ag_snapshot_t *snap = ag_scripts_acquire(eng->scripts);
    size_t good, bad;
    ag_snapshot_counts(snap, &good, &bad);

    ag_buf_t b;
    ag_buf_init(&b);
    const char *overall = !store_ok ? "down" : bad ? "degraded" : "ok";
    ag_buf_printf(&b, "{\"status\":\"%s\",\"version\":\"%s\",\"uptime_s\":%.3f,\"components\":{", overall, AG_VERSION,
                  (double)(ag_now_ms() - eng->started_ms) / 1000.0);
    char masked[1024];
    ag_config_mask_url(eng->cfg.database_url, masked, sizeof(masked));
    ag_buf_printf(&b, "\"store\":{\"status\":\"%s\",\"backend\":", store_ok ? "ok" : "down");
    ag_buf_json_strz(&b, c->w->store->ops->name);
    ag_buf_puts(&b, ",\"url\":");
    ag_buf_json_strz(&b, masked);
    if (!store_ok) {
        ag_buf_puts(&b, ",\"error\":");
        ag_buf_json_strz(&b, err.msg);
    }
    ag_buf_printf(&b, "},\"loops\":{\"status\":\"ok\",\"threads\":%d,\"running\":[", eng->nworkers);
    for (int i = 0; i < eng->nworkers; i++)
        ag_buf_printf(&b, "%s%zu", i ? "," : "", eng->workers[i].nrunning);
    ag_buf_printf(&b, "]},\"scripts\":{\"status\":\"%s\",\"loaded\":%zu,\"generation\":%llu,\"task_types\":[",
                  bad ? "degraded" : "ok", good, (unsigned long long)snap->generation);
    int first = 1;
    for (size_t i = 0; i < snap->n; i++) {
        const ag_script_t *sc = &snap->items[i];
        if (strcmp(sc->kind, "tasks") != 0 || sc->source == NULL)
            continue;
        ag_buf_puts(&b, first ? "\"" : ",\"");
        first = 0;
        ag_buf_puts(&b, sc->domain);
        ag_buf_putc(&b, '.');
        ag_buf_puts(&b, sc->name);
        ag_buf_putc(&b, '"');
    }
    ag_buf_puts(&b, "],\"errors\":[");
    ag_script_errors_json(&b, snap, "file");
    ag_buf_puts(&b, "]},");
    ag_llm_health_json(eng->llm, &b);
    ag_buf_puts(&b, "}}");
    ag_snapshot_release(snap);
    ag_http_send_json(c, store_ok ? 200 : 503, b.data, b.len);
    ag_buf_free(&b);
}
