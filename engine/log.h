/*
 * log.h: structured logs, as JSON lines (default) or text, to stderr.
 *
 * The level is checked before formatting (AG_LOG). Messages are fixed wording followed by key=value
 * pairs; in JSON mode the whole formatted message becomes "msg". Thread-safe: one write(2) per line.
 */
#ifndef AG_LOG_H
#define AG_LOG_H

enum { AG_LOG_DEBUG = 0, AG_LOG_INFO, AG_LOG_WARN, AG_LOG_ERROR };

extern int ag_log_level;
extern int ag_log_json;

/* Parses "debug|info|warn|error" into *level; 0 or AG_EINVAL. */
int ag_log_parse_level(const char *s, int *level);
const char *ag_log_level_name(int level);

#define AG_LOG(lvl, ...)                                                                                              \
    do {                                                                                                              \
        if ((lvl) >= ag_log_level)                                                                                    \
            ag__log((lvl), AG_LOG_MODULE, __VA_ARGS__);                                                               \
    } while (0)

void ag__log(int level, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
