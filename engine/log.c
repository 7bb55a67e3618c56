/* log.c: renders log lines as JSON or text; see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "common.h"

int ag_log_level = AG_LOG_INFO;
int ag_log_json = 1;

static const char *names[] = {"debug", "info", "warn", "error"};

int ag_log_parse_level(const char *s, int *level)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *level = i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *level = AG_LOG_WARN;
        return 0;
    }
    return AG_EINVAL;
}

const char *ag_log_level_name(int level)
{
    return level >= 0 && level < 4 ? names[level] : "info";
}

void ag__log(int level, const char *module, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    char ts[32];
    ag_iso8601(ag_now_ms(), ts);
    ag_buf_t b;
    ag_buf_init(&b);
    if (ag_log_json) {
        ag_buf_puts(&b, "{\"ts\":\"");
        ag_buf_puts(&b, ts);
        ag_buf_puts(&b, "\",\"level\":\"");
        ag_buf_puts(&b, ag_log_level_name(level));
        ag_buf_puts(&b, "\",\"module\":");
        ag_buf_json_str(&b, module, strlen(module));
        ag_buf_puts(&b, ",\"msg\":");
        ag_buf_json_str(&b, msg, strlen(msg));
        ag_buf_puts(&b, "}\n");
    } else {
        ag_buf_printf(&b, "%s %-5s [%s] %s\n", ts, ag_log_level_name(level), module, msg);
    }
    ssize_t ignored = write(2, b.data, b.len);
    (void)ignored;
    ag_buf_free(&b);
}
