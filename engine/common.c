/* common.c: the helpers declared in common.h. */
#include "common.h"

#include <errno.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

const char *ag_strerror(int code)
{
    switch (code) {
#define XX(c, msg)                                                                                                    \
    case AG_##c:                                                                                                      \
        return msg;
        AG_ERRNO_MAP(XX)
#undef XX
    default:
        break;
    }
    if (code < 0 && code > -4096)
        return strerror(-code);
    return code == 0 ? "ok" : "unknown error";
}

int ag_err_set(ag_err_t *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void ag__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}

static void *oom(void)
{
    fputs("out of memory\n", stderr);
    abort();
}

void *ag_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    return p ? p : oom();
}

void *ag_xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    return p ? p : oom();
}

void *ag_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    return q ? q : oom();
}

char *ag_xstrdup(const char *s)
{
    return ag_xstrndup(s, strlen(s));
}

char *ag_xstrndup(const char *s, size_t n)
{
    char *p = ag_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int64_t ag_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ag_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ag_iso8601(int64_t ms, char *buf)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100,
             tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100, (int)(ms % 1000));
}

static int digits(const char *s, size_t len, size_t *pos, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*pos)++) {
        if (*pos >= len || s[*pos] < '0' || s[*pos] > '9')
            return AG_EINVAL;
        v = v * 10 + (s[*pos] - '0');
    }
    *out = v;
    return 0;
}

static int expect(const char *s, size_t len, size_t *pos, const char *chars)
{
    if (*pos >= len || strchr(chars, s[*pos]) == NULL)
        return AG_EINVAL;
    (*pos)++;
    return 0;
}

int ag_parse_iso8601(const char *s, size_t len, int64_t *out_ms)
{
    size_t p = 0;
    int y, mo, d, h, mi, sec, ms = 0;
    if (digits(s, len, &p, 4, &y) || expect(s, len, &p, "-") || digits(s, len, &p, 2, &mo) ||
        expect(s, len, &p, "-") || digits(s, len, &p, 2, &d) || expect(s, len, &p, "Tt ") ||
        digits(s, len, &p, 2, &h) || expect(s, len, &p, ":") || digits(s, len, &p, 2, &mi) ||
        expect(s, len, &p, ":") || digits(s, len, &p, 2, &sec))
        return AG_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970 || y > 9999)
        return AG_EINVAL;
    if (p < len && s[p] == '.') {
        p++;
        int scale = 100, n = 0;
        while (p < len && s[p] >= '0' && s[p] <= '9') {
            ms += (s[p] - '0') * scale;
            scale /= 10;
            p++;
            n++;
        }
        if (n == 0)
            return AG_EINVAL;
    }
    int offset_min = 0;
    if (p < len && (s[p] == 'Z' || s[p] == 'z')) {
        p++;
    } else if (p < len && (s[p] == '+' || s[p] == '-')) {
        int sign = s[p] == '-' ? -1 : 1, oh, om;
        p++;
        if (digits(s, len, &p, 2, &oh) || expect(s, len, &p, ":") || digits(s, len, &p, 2, &om) || oh > 23 ||
            om > 59)
            return AG_EINVAL;
        offset_min = sign * (oh * 60 + om);
    } else {
        return AG_EINVAL;
    }
    if (p != len)
        return AG_EINVAL;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    time_t t = timegm(&tm);
    *out_ms = ((int64_t)t - (int64_t)offset_min * 60) * 1000 + ms;
    return 0;
}

void ag_hash_hex16(const void *data, size_t len, char *out)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        out[i * 2] = hex[md[i] >> 4];
        out[i * 2 + 1] = hex[md[i] & 15];
    }
    out[16] = '\0';
}

int ag_read_file(const char *path, char **out, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -errno;
    size_t cap = 4096, len = 0;
    char *buf = ag_xmalloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0)
            buf = ag_xrealloc(buf, cap *= 2);
    }
    int rc = ferror(f) ? -EIO : 0;
    fclose(f);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    if (out_len)
        *out_len = len;
    return 0;
}
