/* events.c: see events.h. */
#include "events.h"

#include <string.h>

#include "log.h"
#include "lua/scripts.h"

#define AG_LOG_MODULE "events"

void ag_event_json(ag_buf_t *b, const ag_event_t *e)
{
    ag_buf_printf(b, "{\"id\":%lld,\"type\":", (long long)e->id);
    ag_buf_json_strz(b, e->type);
    ag_buf_puts(b, ",\"domain\":");
    ag_buf_json_strz(b, e->domain);
    ag_buf_puts(b, ",\"at\":");
    ag_buf_json_time(b, e->at);
    if (e->task_id > 0)
        ag_buf_printf(b, ",\"task_id\":%lld", (long long)e->task_id);
    else
        ag_buf_puts(b, ",\"task_id\":null");
    ag_buf_puts(b, ",\"from\":");
    ag_buf_json_strz(b, e->from);
    ag_buf_puts(b, ",\"to\":");
    ag_buf_json_strz(b, e->to);
    ag_buf_puts(b, ",\"detail\":");
    ag_buf_json_strz(b, e->detail);
    ag_buf_puts(b, ",\"data\":");
    ag_buf_puts(b, e->data ? e->data : "null");
    ag_buf_putc(b, '}');
}

int ag_event_type_matches(const char *patterns, const char *type)
{
    if (patterns == NULL || *patterns == '\0')
        return 1;
    size_t tl = strlen(type);
    for (const char *p = patterns; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l > 0 && p[l - 1] == '*') {
            if (tl >= l - 1 && memcmp(type, p, l - 1) == 0)
                return 1;
        } else if (l == tl && memcmp(type, p, l) == 0) {
            return 1;
        }
        if (e == NULL)
            break;
        p = e + 1;
    }
    return 0;
}

int ag_event_patterns_check(const char *patterns)
{
    if (patterns == NULL)
        return 0;
    size_t run = 0;
    for (const char *p = patterns;; p++) {
        if (*p == ',' || *p == '\0') {
            if (run == 0)
                return -1; /* empty pattern */
            if (*p == '\0')
                return 0;
            run = 0;
            continue;
        }
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                 (c == '*' && (p[1] == ',' || p[1] == '\0'));
        if (!ok || ++run > 100)
            return -1;
    }
}

void ag_event_emit(ag_store_t *s, const char *type, const char *domain, const char *data_json)
{
    ag_err_t err;
    if (s->ops->event_add(s, type, domain, data_json, NULL, &err) != 0)
        AG_LOG(AG_LOG_ERROR, "event not recorded type=%s error=%s", type, err.msg);
}

void ag_event_emit_scripts(ag_store_t *s, const ag_snapshot_t *snap)
{
    size_t good, bad;
    ag_snapshot_counts(snap, &good, &bad);
    char data[96];
    snprintf(data, sizeof(data), "{\"generation\":%llu,\"errors\":%zu}", (unsigned long long)snap->generation, bad);
    ag_event_emit(s, bad > 0 ? "script.error" : "script.reloaded", NULL, data);
}
