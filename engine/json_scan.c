/* json_scan.c: see json_scan.h. */
#include "json_scan.h"

#include <stdlib.h>
#include <string.h>

size_t ag_json_skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    return i;
}

static size_t skip_string(const char *s, size_t i, size_t n) /* s[i] == '"' */
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

size_t ag_json_skip_value(const char *s, size_t i, size_t n)
{
    if (i >= n)
        return n;
    if (s[i] == '"')
        return skip_string(s, i, n);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        for (; i < n; i++) {
            if (s[i] == '"') {
                i = skip_string(s, i, n) - 1;
            } else if (s[i] == '{' || s[i] == '[') {
                depth++;
            } else if (s[i] == '}' || s[i] == ']') {
                if (--depth == 0)
                    return i + 1;
            }
        }
        return n;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
           s[i] != '\n')
        i++;
    return i;
}

int ag_json_member(const char *s, size_t n, const char *key, size_t *start, size_t *len)
{
    size_t kl = strlen(key), i = ag_json_skip_ws(s, 0, n);
    int found = 0;
    if (i >= n || s[i] != '{')
        return 0;
    i++;
    for (;;) {
        i = ag_json_skip_ws(s, i, n);
        if (i >= n || s[i] != '"')
            return found;
        size_t k0 = i + 1, k1 = skip_string(s, i, n);
        int match = k1 >= k0 + 1 && k1 - 1 - k0 == kl && memcmp(s + k0, key, kl) == 0;
        i = ag_json_skip_ws(s, k1, n);
        if (i >= n || s[i] != ':')
            return found;
        i = ag_json_skip_ws(s, i + 1, n);
        size_t v1 = ag_json_skip_value(s, i, n);
        if (match) {
            *start = i;
            *len = v1 - i;
            found = 1;
        }
        i = ag_json_skip_ws(s, v1, n);
        if (i >= n || s[i] != ',')
            return found;
        i++;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ag_json_string(const char *v, size_t vlen, char *out, size_t outsz)
{
    if (vlen < 2 || v[0] != '"' || v[vlen - 1] != '"' || outsz == 0)
        return -1;
    size_t o = 0;
    for (size_t i = 1; i + 1 < vlen; i++) {
        char c = v[i];
        if (c == '\\' && i + 2 < vlen) {
            c = v[++i];
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                unsigned cp = 0;
                for (int k = 0; k < 4; k++) {
                    int h = i + 1 < vlen - 1 ? hexval(v[++i]) : -1;
                    if (h < 0)
                        return -1;
                    cp = cp * 16 + (unsigned)h;
                }
                char enc[4];
                size_t el;
                if (cp < 0x80)
                    enc[0] = (char)cp, el = 1;
                else if (cp < 0x800)
                    enc[0] = (char)(0xc0 | cp >> 6), enc[1] = (char)(0x80 | (cp & 0x3f)), el = 2;
                else
                    enc[0] = (char)(0xe0 | cp >> 12), enc[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
                    enc[2] = (char)(0x80 | (cp & 0x3f)), el = 3;
                for (size_t k = 0; k < el && o + 1 < outsz; k++)
                    out[o++] = enc[k];
                continue;
            }
            default: break; /* \" \\ \/ */
            }
        }
        if (o + 1 < outsz)
            out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

int ag_json_number(const char *v, size_t vlen, double *out)
{
    char tmp[64];
    if (vlen == 0 || vlen >= sizeof(tmp) || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9')))
        return -1;
    memcpy(tmp, v, vlen);
    tmp[vlen] = '\0';
    char *end;
    *out = strtod(tmp, &end);
    return *end == '\0' ? 0 : -1;
}

int ag_json_array_next(const char *v, size_t vlen, size_t *pos, size_t *start, size_t *len)
{
    size_t i = *pos;
    if (i == 0) {
        i = ag_json_skip_ws(v, 0, vlen);
        if (i >= vlen || v[i] != '[')
            return 0;
        i++;
    }
    i = ag_json_skip_ws(v, i, vlen);
    if (i >= vlen || v[i] == ']')
        return 0;
    size_t e = ag_json_skip_value(v, i, vlen);
    *start = i;
    *len = e - i;
    i = ag_json_skip_ws(v, e, vlen);
    if (i < vlen && v[i] == ',')
        i++;
    *pos = i;
    return e > *start;
}
