/*
 * common.h: error codes, assertions, allocation and time helpers shared by every module.
 *
 * C functions return 0 or a negative AG_E* code (STYLE §4). System errors pass through as -errno;
 * our own codes sit just above -2000 so the two ranges never meet. Detail a person will read goes in
 * an ag_err_t out-parameter, written only on failure.
 */
#ifndef AG_COMMON_H
#define AG_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define AG_VERSION "0.1.0"

#define AG_ERRNO_MAP(XX)                                                                                              \
    XX(EINVAL, "invalid argument")                                                                                    \
    XX(ENOTFOUND, "not found")                                                                                        \
    XX(ETIMEDOUT, "timed out")                                                                                        \
    XX(ESTATE, "invalid state for this operation")                                                                    \
    XX(ESTORE, "storage error")                                                                                       \
    XX(ESCRIPT, "script error")                                                                                       \
    XX(ECANCELED, "canceled")                                                                                         \
    XX(EEXIST, "already exists")                                                                                      \
    XX(ECONFIG, "invalid configuration")

enum {
    AG__EBASE = -2000,
#define XX(code, msg) AG_##code,
    AG_ERRNO_MAP(XX)
#undef XX
};

/* Human-readable text for an AG_E* code or a -errno value. */
const char *ag_strerror(int code);

typedef struct ag_err_s {
    int code;
    char msg[512];
} ag_err_t;

/* Writes code and a formatted message into err (NULL-safe); returns code. */
int ag_err_set(ag_err_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define AG_ASSERT(expr)                                                                                               \
    do {                                                                                                              \
        if (!(expr))                                                                                                  \
            ag__assert_fail(#expr, __FILE__, __LINE__);                                                               \
    } while (0)
_Noreturn void ag__assert_fail(const char *expr, const char *file, int line);

/* Allocation that never returns NULL: out of memory in C aborts (STYLE §4). */
void *ag_xmalloc(size_t n);
void *ag_xcalloc(size_t n, size_t sz);
void *ag_xrealloc(void *p, size_t n);
char *ag_xstrdup(const char *s);
char *ag_xstrndup(const char *s, size_t n);

#define ag_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Wall clock in milliseconds since the epoch, and a monotonic clock in milliseconds. */
int64_t ag_now_ms(void);
int64_t ag_mono_ms(void);

/* Formats ms since the epoch as "2026-11-26T04:00:00.000Z" into buf (at least 32 bytes). */
void ag_iso8601(int64_t ms, char *buf);
/* Parses an RFC 3339 timestamp ("2026-11-26T10:00:00Z", "...T10:00:00.5+02:00"); 0 or AG_EINVAL. */
int ag_parse_iso8601(const char *s, size_t len, int64_t *out_ms);

/* The first 16 hex digits of the SHA-256 of data: a script's content version. out has 17 bytes. */
void ag_hash_hex16(const void *data, size_t len, char *out);

/* Reads a whole file into a new NUL-terminated buffer (caller frees); 0 or -errno. */
int ag_read_file(const char *path, char **out, size_t *out_len);

#endif
