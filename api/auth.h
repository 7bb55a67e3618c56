/*
 * auth.h: JWT bearer tokens (HS256 only) and scopes.
 *
 * A token is accepted when its signature is HMAC-SHA256 over "header.payload" with AGENCY_JWT_SECRET,
 * its header says alg HS256 (any other alg, "none" included, is refused), exp and nbf hold within the
 * configured leeway, and iss / aud match when configured. Scopes come from the space-separated `scope`
 * claim; `admin` grants every scope.
 */
#ifndef AG_API_AUTH_H
#define AG_API_AUTH_H

#include <stdint.h>

#include "../engine/config.h"

typedef struct ag_principal_s {
    char sub[128];
    char scope[512];
} ag_principal_t;

/* 0 and *p filled, or -1 with a short reason for the log (never shown in detail to the client). */
int ag_auth_verify(const ag_config_t *cfg, const char *token, size_t len, int64_t now_s, ag_principal_t *p,
                   char *why, size_t whysz);

/* 1 when scopes (space-separated) grant need. */
int ag_auth_has_scope(const char *scopes, const char *need);

/* Mints a token (new string) for sub with scope, valid ttl_s seconds from now_s. */
char *ag_auth_mint(const ag_config_t *cfg, const char *sub, const char *scope, int64_t now_s, int64_t ttl_s);

/* Parses a duration such as "3600", "90s", "15m", "1h", "7d" into seconds; 0 or -1. */
int ag_auth_parse_ttl(const char *s, int64_t *out);

#endif
