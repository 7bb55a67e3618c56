/*
 * b64url.h: unpadded base64url (RFC 4648 §5), strict on input (one encoding per value), and the opaque
 * list cursors built on it: base64url of "<prefix><id>".
 */
#ifndef AG_B64URL_H
#define AG_B64URL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

void ag_b64url_encode(ag_buf_t *b, const unsigned char *in, size_t n);
/* Decodes in[0..n); -1 on a bad character, length or non-zero unused bits. out must hold n * 3 / 4 + 3 bytes. */
int ag_b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outlen);

/* Appends the cursor for id (> 0) under prefix ("" for bare digits, "wh:", "agent:"). */
void ag_cursor_encode(ag_buf_t *b, const char *prefix, int64_t id);
/* The id in cursor s made with prefix, or -1 when s is not such a cursor. */
int64_t ag_cursor_decode(const char *s, const char *prefix);

#endif
