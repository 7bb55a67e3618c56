/* buf.c: see buf.h. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

void ag_buf_init(ag_buf_t *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void ag_buf_free(ag_buf_t *b)
{
    free(b->data);
    ag_buf_init(b);
}

void ag_buf_reserve(ag_buf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = ag_xrealloc(b->data, cap);
    b->cap = cap;
}

void ag_buf_put(ag_buf_t *b, const void *p, size_t n)
{
    ag_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ag_buf_puts(ag_buf_t *b, const char *s)
{
    ag_buf_put(b, s, strlen(s));
}

void ag_buf_putc(ag_buf_t *b, char c)
{
    ag_buf_put(b, &c, 1);
}

void ag_buf_printf(ag_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    ag_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *ag_buf_steal(ag_buf_t *b)
{
    ag_buf_reserve(b, 0);
    char *p = b->data;
    p[b->len] = '\0';
    ag_buf_init(b);
    return p;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        need = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        need = 4, min = 0x10000;
    else
        return 0;
    if (n < need)
        return 0;
    unsigned cp = c & (0x3f >> (need - 1));
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
}

int ag_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

void ag_buf_json_str(ag_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    ag_buf_reserve(b, n + 2);
    ag_buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t k = utf8_seq(p + i, n - i);
            if (k == 0) {
                ag_buf_puts(b, "\xef\xbf\xbd");
                i++;
            } else {
                ag_buf_put(b, p + i, k);
                i += k;
            }
            continue;
        }
        switch (c) {
        case '"':
            ag_buf_puts(b, "\\\"");
            break;
        case '\\':
            ag_buf_puts(b, "\\\\");
            break;
        case '\n':
            ag_buf_puts(b, "\\n");
            break;
        case '\r':
            ag_buf_puts(b, "\\r");
            break;
        case '\t':
            ag_buf_puts(b, "\\t");
            break;
        default:
            if (c < 0x20) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                ag_buf_put(b, esc, 6);
            } else {
                ag_buf_putc(b, (char)c);
            }
        }
        i++;
    }
    ag_buf_putc(b, '"');
}

void ag_buf_json_strz(ag_buf_t *b, const char *s)
{
    if (s == NULL)
        ag_buf_puts(b, "null");
    else
        ag_buf_json_str(b, s, strlen(s));
}

void ag_buf_json_key(ag_buf_t *b, const char *key)
{
    ag_buf_json_str(b, key, strlen(key));
    ag_buf_putc(b, ':');
}

void ag_buf_json_time(ag_buf_t *b, int64_t ms)
{
    if (ms <= 0) {
        ag_buf_puts(b, "null");
        return;
    }
    char ts[32];
    ag_iso8601(ms, ts);
    ag_buf_putc(b, '"');
    ag_buf_puts(b, ts);
    ag_buf_putc(b, '"');
}
