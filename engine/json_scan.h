/*
 * json_scan.h: reading members of a JSON object in place, without building a tree.
 *
 * For texts already known to be JSON (validated by cjson, or signed by a trusted party): the scanners
 * never read outside [s, s + n), but on malformed input they return "not found" rather than an error.
 */
#ifndef AG_JSON_SCAN_H
#define AG_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

/* Index just past the JSON value starting at s[i] (after whitespace is skipped by the caller). */
size_t ag_json_skip_value(const char *s, size_t i, size_t n);
size_t ag_json_skip_ws(const char *s, size_t i, size_t n);

/* Finds the last top-level member named key (spelt without escapes) of the object in s[0..n):
 * 1 and the value's span, or 0. */
int ag_json_member(const char *s, size_t n, const char *key, size_t *start, size_t *len);

/* Decodes the JSON string literal v[0..vlen) into out (NUL-terminated, truncated to outsz - 1);
 * 0, or -1 when v is not a string. */
int ag_json_string(const char *v, size_t vlen, char *out, size_t outsz);

/* Reads the JSON number v[0..vlen); 0, or -1 when v is not a number. */
int ag_json_number(const char *v, size_t vlen, double *out);

/* Iterates the elements of the array v[0..vlen): *pos starts at 0; returns 1 with the next element's
 * span, 0 at the end. */
int ag_json_array_next(const char *v, size_t vlen, size_t *pos, size_t *start, size_t *len);

#endif
