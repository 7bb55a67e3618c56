/* auth.c: see auth.h. */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/b64url.h"
#include "../engine/buf.h"
#include "../engine/json_scan.h"

static void sign(const ag_config_t *cfg, const char *data, size_t n, unsigned char mac[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), cfg->jwt_secret, (int)strlen(cfg->jwt_secret), (const unsigned char *)data, n, mac, &len);
}

static int claim_str(const char *json, size_t n, const char *key, char *out, size_t outsz)
{
    size_t s, l;
    if (!ag_json_member(json, n, key, &s, &l))
        return 0;
    return ag_json_string(json + s, l, out, outsz) == 0 ? 1 : -1;
}

static int claim_num(const char *json, size_t n, const char *key, double *out)
{
    size_t s, l;
    if (!ag_json_member(json, n, key, &s, &l))
        return 0;
    return ag_json_number(json + s, l, out) == 0 ? 1 : -1;
}

#define WHY(...) (snprintf(why, whysz, __VA_ARGS__), -1)

int ag_auth_verify(const ag_config_t *cfg, const char *token, size_t len, int64_t now_s, ag_principal_t *p,
                   char *why, size_t whysz)
{
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot1 == NULL || dot2 == NULL || len > 8192)
        return WHY("not a JWS compact token");
    size_t hlen = (size_t)(dot1 - token), plen = (size_t)(dot2 - dot1 - 1), slen = len - (size_t)(dot2 + 1 - token);
    /* Signature first: nothing of an unsigned header or payload is trusted. */
    unsigned char sig[64], mac[32];
    size_t siglen;
    if (slen > 86 || ag_b64url_decode(dot2 + 1, slen, sig, &siglen) != 0 || siglen != 32)
        return WHY("bad signature encoding");
    sign(cfg, token, (size_t)(dot2 - token), mac);
    if (CRYPTO_memcmp(sig, mac, 32) != 0)
        return WHY("signature does not verify");
    unsigned char *hdr = malloc(hlen * 3 / 4 + 3), *pl = malloc(plen * 3 / 4 + 3);
    size_t hn, pn;
    int rc = -1;
    if (hdr == NULL || pl == NULL || ag_b64url_decode(token, hlen, hdr, &hn) != 0 ||
        ag_b64url_decode(dot1 + 1, plen, pl, &pn) != 0) {
        rc = WHY("bad base64url");
        goto done;
    }
    char alg[32] = "";
    if (claim_str((char *)hdr, hn, "alg", alg, sizeof(alg)) != 1 || strcmp(alg, "HS256") != 0) {
        rc = WHY("alg must be HS256");
        goto done;
    }
    const char *js = (const char *)pl;
    double exp = 0, nbf = 0;
    int has_exp = claim_num(js, pn, "exp", &exp), has_nbf = claim_num(js, pn, "nbf", &nbf);
    if (has_exp < 0 || has_nbf < 0) {
        rc = WHY("exp/nbf must be numbers");
        goto done;
    }
    if (has_exp != 1) {
        rc = WHY("exp is required");
        goto done;
    }
    if ((double)now_s > exp + cfg->jwt_leeway_s) {
        rc = WHY("expired");
        goto done;
    }
    if (has_nbf == 1 && (double)now_s + cfg->jwt_leeway_s < nbf) {
        rc = WHY("not yet valid");
        goto done;
    }
    if (cfg->jwt_issuer[0]) {
        char iss[sizeof(cfg->jwt_issuer) + 2]; /* longer than any configured value: a truncated claim cannot match */
        if (claim_str(js, pn, "iss", iss, sizeof(iss)) != 1 || strcmp(iss, cfg->jwt_issuer) != 0) {
            rc = WHY("wrong issuer");
            goto done;
        }
    }
    if (cfg->jwt_audience[0]) {
        size_t s, l;
        int ok = 0;
        if (ag_json_member(js, pn, "aud", &s, &l)) {
            char a[sizeof(cfg->jwt_audience) + 2]; /* as for iss */
            if (js[s] == '[') {
                size_t pos = 0, es, el;
                while (!ok && ag_json_array_next(js + s, l, &pos, &es, &el))
                    ok = ag_json_string(js + s + es, el, a, sizeof(a)) == 0 && strcmp(a, cfg->jwt_audience) == 0;
            } else {
                ok = ag_json_string(js + s, l, a, sizeof(a)) == 0 && strcmp(a, cfg->jwt_audience) == 0;
            }
        }
        if (!ok) {
            rc = WHY("wrong audience");
            goto done;
        }
    }
    if (claim_str(js, pn, "sub", p->sub, sizeof(p->sub)) != 1)
        snprintf(p->sub, sizeof(p->sub), "unknown");
    if (claim_str(js, pn, "scope", p->scope, sizeof(p->scope)) != 1)
        p->scope[0] = '\0';
    rc = 0;
done:
    free(hdr);
    free(pl);
    return rc;
}

int ag_auth_has_scope(const char *scopes, const char *need)
{
    size_t nl = strlen(need);
    for (const char *p = scopes; *p;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        size_t l = (size_t)(e - p);
        if ((l == nl && memcmp(p, need, nl) == 0) || (l == 5 && memcmp(p, "admin", 5) == 0))
            return 1;
        p = e;
    }
    return 0;
}

char *ag_auth_mint(const ag_config_t *cfg, const char *sub, const char *scope, int64_t now_s, int64_t ttl_s)
{
    ag_buf_t payload, tok;
    ag_buf_init(&payload);
    ag_buf_init(&tok);
    ag_buf_puts(&payload, "{\"sub\":");
    ag_buf_json_strz(&payload, sub);
    ag_buf_puts(&payload, ",\"scope\":");
    ag_buf_json_strz(&payload, scope);
    ag_buf_printf(&payload, ",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld", (long long)now_s, (long long)now_s,
                  (long long)(now_s + ttl_s));
    if (cfg->jwt_issuer[0]) {
        ag_buf_puts(&payload, ",\"iss\":");
        ag_buf_json_strz(&payload, cfg->jwt_issuer);
    }
    if (cfg->jwt_audience[0]) {
        ag_buf_puts(&payload, ",\"aud\":");
        ag_buf_json_strz(&payload, cfg->jwt_audience);
    }
    ag_buf_putc(&payload, '}');
    static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    ag_b64url_encode(&tok, (const unsigned char *)hdr, sizeof(hdr) - 1);
    ag_buf_putc(&tok, '.');
    ag_b64url_encode(&tok, (const unsigned char *)payload.data, payload.len);
    unsigned char mac[32];
    sign(cfg, tok.data, tok.len, mac);
    ag_buf_putc(&tok, '.');
    ag_b64url_encode(&tok, mac, 32);
    ag_buf_free(&payload);
    return ag_buf_steal(&tok);
}

int ag_auth_parse_ttl(const char *s, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0)
        return -1;
    long long mul = 1;
    if (*end == 's')
        end++;
    else if (*end == 'm')
        mul = 60, end++;
    else if (*end == 'h')
        mul = 3600, end++;
    else if (*end == 'd')
        mul = 86400, end++;
    if (*end != '\0' || v > 10LL * 365 * 86400 / mul)
        return -1;
    *out = v * mul;
    return 0;
}
