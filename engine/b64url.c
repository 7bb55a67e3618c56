/* b64url.c: see b64url.h. */
#include "b64url.h"

#include <stdio.h>
#include <string.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void ag_b64url_encode(ag_buf_t *b, const unsigned char *in, size_t n)
{
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        char out[4] = {b64url[v >> 18], b64url[(v >> 12) & 63], b64url[(v >> 6) & 63], b64url[v & 63]};
        ag_buf_put(b, out, 4);
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        char out[2] = {b64url[v >> 18], b64url[(v >> 12) & 63]};
        ag_buf_put(b, out, 2);
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        char out[3] = {b64url[v >> 18], b64url[(v >> 12) & 63], b64url[(v >> 6) & 63]};
        ag_buf_put(b, out, 3);
    }
}

static int b64val(char c)
{
    const char *p = c ? strchr(b64url, c) : NULL;
    return p ? (int)(p - b64url) : -1;
}

int ag_b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outlen)
{
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(in[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* the unused low bits of the last character must be zero: one encoding per value, so a signature
     * cannot be varied in its last character and still verify */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    *outlen = o;
    return 0;
}

void ag_cursor_encode(ag_buf_t *b, const char *prefix, int64_t id)
{
    char raw[64];
    int n = snprintf(raw, sizeof(raw), "%s%lld", prefix, (long long)id);
    ag_b64url_encode(b, (const unsigned char *)raw, (size_t)n);
}

int64_t ag_cursor_decode(const char *s, const char *prefix)
{
    size_t n = strlen(s), pl = strlen(prefix);
    unsigned char raw[64];
    size_t rl;
    if (n == 0 || n > 60 || ag_b64url_decode(s, n, raw, &rl) != 0)
        return -1;
    if (rl <= pl || rl - pl > 18 || memcmp(raw, prefix, pl) != 0 || raw[pl] == '0')
        return -1;
    int64_t id = 0;
    for (size_t i = pl; i < rl; i++) {
        if (raw[i] < '0' || raw[i] > '9')
            return -1;
        id = id * 10 + (raw[i] - '0');
    }
    return id;
}
