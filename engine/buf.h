/*
 * buf.h: a growable byte buffer, with writers for JSON strings and values.
 *
 * Buffers own their memory; ag_buf_free releases it. Growth uses ag_xrealloc (aborts on OOM).
 */
#ifndef AG_BUF_H
#define AG_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct ag_buf_s {
    char *data;
    size_t len, cap;
} ag_buf_t;

void ag_buf_init(ag_buf_t *b);
void ag_buf_free(ag_buf_t *b);
void ag_buf_reserve(ag_buf_t *b, size_t extra);
void ag_buf_put(ag_buf_t *b, const void *p, size_t n);
void ag_buf_puts(ag_buf_t *b, const char *s);
void ag_buf_putc(ag_buf_t *b, char c);
void ag_buf_printf(ag_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the contents as a NUL-terminated string the caller owns; b is left empty. */
char *ag_buf_steal(ag_buf_t *b);

/* A JSON string literal (quotes included); invalid UTF-8 bytes become U+FFFD. */
void ag_buf_json_str(ag_buf_t *b, const char *s, size_t n);
/* A JSON string, or null when s is NULL. */
void ag_buf_json_strz(ag_buf_t *b, const char *s);
/* "key": with the separator handling left to the caller. */
void ag_buf_json_key(ag_buf_t *b, const char *key);
/* An ISO 8601 timestamp string, or null when ms is 0. */
void ag_buf_json_time(ag_buf_t *b, int64_t ms);

/* 1 if s[0..n) is valid UTF-8 (no overlongs, no surrogates), else 0. */
int ag_utf8_valid(const char *s, size_t n);

#endif
