/*
 * scripts.c: the /api/v1/scripts resource: every script of the registry's newest snapshot with its
 * version (content hash), load time and last error, and a forced rescan. The registry (engine/lua/scripts.c)
 * is shared by all loop threads and serializes rescans under its own mutex, so a reload from any loop
 * is safe; inotify-driven reloads (reload.c) and this one simply take turns.
 */
#include <string.h>

#include "../engine/events.h"
#include "../engine/log.h"
#include "http.h"

#define AG_LOG_MODULE "api"

static void error_json(ag_buf_t *b, const ag_script_t *sc)
{
    ag_buf_printf(b, "{\"line\":%d,\"message\":", sc->error_line);
    ag_buf_json_strz(b, sc->error);
    ag_buf_putc(b, '}');
}

void ag_script_errors_json(ag_buf_t *b, const ag_snapshot_t *snap, const char *path_key)
{
    int first = 1;
    for (size_t i = 0; i < snap->n; i++) {
        const ag_script_t *sc = &snap->items[i];
        if (sc->error == NULL)
            continue;
        ag_buf_puts(b, first ? "{" : ",{");
        first = 0;
        ag_buf_json_key(b, path_key);
        ag_buf_json_strz(b, sc->path);
        ag_buf_printf(b, ",\"line\":%d,\"message\":", sc->error_line);
        ag_buf_json_strz(b, sc->error);
        ag_buf_puts(b, ",\"serving\":");
        ag_buf_json_strz(b, sc->source ? sc->hash : NULL);
        ag_buf_putc(b, '}');
    }
}

void ag_api_scripts_list(ag_http_ctx_t *c)
{
    ag_snapshot_t *snap = ag_scripts_acquire(c->w->eng->scripts);
    ag_buf_t b;
    ag_buf_init(&b);
    ag_buf_printf(&b, "{\"generation\":%llu,\"scripts\":[", (unsigned long long)snap->generation);
    for (size_t i = 0; i < snap->n; i++) {
        const ag_script_t *sc = &snap->items[i];
        ag_buf_puts(&b, i ? ",{\"path\":" : "{\"path\":");
        ag_buf_json_strz(&b, sc->path);
        ag_buf_puts(&b, ",\"domain\":");
        ag_buf_json_strz(&b, sc->domain);
        ag_buf_puts(&b, ",\"kind\":");
        ag_buf_json_strz(&b, sc->kind);
        ag_buf_puts(&b, ",\"name\":");
        ag_buf_json_strz(&b, sc->name);
        ag_buf_puts(&b, ",\"version\":"); /* the version serving, NULL when the file never loaded */
        ag_buf_json_strz(&b, sc->source ? sc->hash : NULL);
        ag_buf_puts(&b, ",\"loaded_at\":");
        ag_buf_json_time(&b, sc->source ? sc->loaded_at : 0);
        ag_buf_puts(&b, ",\"error\":");
        if (sc->error)
            error_json(&b, sc);
        else
            ag_buf_puts(&b, "null");
        ag_buf_putc(&b, '}');
    }
    ag_buf_puts(&b, "]}");
    ag_snapshot_release(snap);
    ag_http_send_json(c, 200, b.data, b.len);
    ag_buf_free(&b);
}

void ag_api_scripts_reload(ag_http_ctx_t *c)
{
    ag_scripts_t *reg = c->w->eng->scripts;
    int changed = 0;
    ag_err_t err;
    if (ag_scripts_rescan(reg, &changed, &err) != 0) {
        AG_LOG(AG_LOG_ERROR, "scripts reload failed request_id=%s error=%s", c->request_id, err.msg);
        ag_http_send_error(c, 500, "internal", "internal error; the request id is in the server log", NULL);
        return;
    }
    ag_snapshot_t *snap = ag_scripts_acquire(reg);
    if (changed) {
        AG_LOG(AG_LOG_INFO, "scripts reloaded generation=%llu request_id=%s", (unsigned long long)snap->generation,
               c->request_id);
        ag_event_emit_scripts(c->w->store, snap);
    }
    ag_buf_t b;
    ag_buf_init(&b);
    ag_buf_printf(&b, "{\"changed\":%s,\"generation\":%llu,\"errors\":[", changed ? "true" : "false",
                  (unsigned long long)snap->generation);
    ag_script_errors_json(&b, snap, "path");
    ag_buf_puts(&b, "]}");
    ag_snapshot_release(snap);
    ag_http_send_json(c, 200, b.data, b.len);
    ag_buf_free(&b);
}
