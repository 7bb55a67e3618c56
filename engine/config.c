/* config.c: see config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

typedef struct kv_s {
    char *key, *val;
} kv_t;

typedef struct source_s {
    kv_t *items;
    size_t n;
} source_t;

static const char *lookup(const source_t *file, const char *key)
{
    const char *v = getenv(key);
    if (v != NULL)
        return v;
    for (size_t i = 0; i < file->n; i++)
        if (strcmp(file->items[i].key, key) == 0)
            return file->items[i].val;
    return NULL;
}

static const char *lookup_any(const void *file, const char *key)
{
    return lookup(file, key);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int read_file_source(const char *path, source_t *src, ag_err_t *err)
{
    char *text;
    int rc = ag_read_file(path, &text, NULL);
    if (rc != 0)
        return ag_err_set(err, AG_ECONFIG, "config file %s: %s", path, ag_strerror(rc));
    int lineno = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *l = trim(line);
        if (*l == '\0' || *l == '#')
            continue;
        char *eq = strchr(l, '=');
        if (eq == NULL) {
            free(text);
            return ag_err_set(err, AG_ECONFIG, "config file %s:%d: expected NAME=value", path, lineno);
        }
        *eq = '\0';
        char *val = trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && (val[0] == '"' || val[0] == '\'') && val[vl - 1] == val[0]) {
            val[vl - 1] = '\0';
            val++;
        }
        src->items = ag_xrealloc(src->items, (src->n + 1) * sizeof(kv_t));
        src->items[src->n].key = ag_xstrdup(trim(l));
        src->items[src->n].val = ag_xstrdup(val);
        src->n++;
    }
    free(text);
    return 0;
}

static void free_source(source_t *src)
{
    for (size_t i = 0; i < src->n; i++) {
        free(src->items[i].key);
        free(src->items[i].val);
    }
    free(src->items);
}

static int parse_int(const source_t *src, const char *key, int64_t min, int64_t max, int64_t *out, ag_err_t *err)
{
    const char *v = lookup(src, key);
    if (v == NULL || *v == '\0')
        return 0;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < min || n > max)
        return ag_err_set(err, AG_ECONFIG, "%s: expected an integer from %lld to %lld, got \"%s\"", key,
                          (long long)min, (long long)max, v);
    *out = n;
    return 0;
}

static int copy_str(const source_t *src, const char *key, char *dst, size_t dstsz, ag_err_t *err)
{
    const char *v = lookup(src, key);
    if (v == NULL)
        return 0;
    if (*v == '\0' || strlen(v) >= dstsz)
        return ag_err_set(err, AG_ECONFIG, "%s: must be a non-empty value under %zu bytes", key, dstsz);
    strcpy(dst, v);
    return 0;
}

/* Like copy_str, but an empty value is allowed (it clears the default). */
static int copy_opt(const source_t *src, const char *key, char *dst, size_t dstsz, ag_err_t *err)
{
    const char *v = lookup(src, key);
    if (v == NULL)
        return 0;
    if (strlen(v) >= dstsz)
        return ag_err_set(err, AG_ECONFIG, "%s: must be under %zu bytes", key, dstsz);
    strcpy(dst, v);
    return 0;
}

int ag_config_is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

static int parse_listen(const char *v, ag_config_t *cfg, ag_err_t *err)
{
    const char *colon = strrchr(v, ':');
    if (colon == NULL || colon == v || (size_t)(colon - v) >= sizeof(cfg->listen_host))
        return ag_err_set(err, AG_ECONFIG, "AGENCY_LISTEN: expected host:port, got \"%s\"", v);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] == '\0' || port < 0 || port > 65535)
        return ag_err_set(err, AG_ECONFIG, "AGENCY_LISTEN: port must be 0-65535, got \"%s\"", colon + 1);
    memcpy(cfg->listen_host, v, (size_t)(colon - v));
    cfg->listen_host[colon - v] = '\0';
    if (cfg->listen_host[0] == '[') { /* [::1]:8080 */
        size_t hl = strlen(cfg->listen_host);
        if (cfg->listen_host[hl - 1] != ']')
            return ag_err_set(err, AG_ECONFIG, "AGENCY_LISTEN: bad IPv6 literal in \"%s\"", v);
        memmove(cfg->listen_host, cfg->listen_host + 1, hl - 2);
        cfg->listen_host[hl - 2] = '\0';
    }
    cfg->listen_port = (int)port;
    return 0;
}

int ag_config_load(ag_config_t *cfg, const char *path, ag_err_t *err)
{
    memset(cfg, 0, sizeof(*cfg));
    strcpy(cfg->listen_host, "127.0.0.1");
    cfg->listen_port = 8080;
    strcpy(cfg->database_url, "sqlite:var/agency.db");
    strcpy(cfg->domains, "./domains");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = cores > 0 ? (int)cores : 1;
    cfg->log_level = AG_LOG_INFO;
    cfg->log_json = 1;
    cfg->lease_ms = 30000;
    cfg->claim_batch = 64;
    cfg->concurrency = 1024;
    cfg->max_body = 1 << 20;
    cfg->cpu_budget = 50000000;
    cfg->memory_limit = 64 << 20;
    cfg->jwt_leeway_s = 30;
    cfg->rate_limit = 100;
    cfg->rate_burst = 200;
    cfg->request_timeout_ms = 10000;
    cfg->webhook_retry_base_ms = 1000;
    cfg->sse_keepalive_ms = 15000;

    source_t src = {NULL, 0};
    int rc = 0;
    if (path == NULL)
        path = getenv("AGENCY_CONFIG");
    if (path != NULL && *path != '\0') {
        if ((rc = read_file_source(path, &src, err)) != 0)
            goto done;
        snprintf(cfg->config_file, sizeof(cfg->config_file), "%s", path);
    }

    const char *v;
    if ((v = lookup(&src, "AGENCY_LISTEN")) != NULL && (rc = parse_listen(v, cfg, err)) != 0)
        goto done;
    if ((rc = copy_str(&src, "AGENCY_DATABASE_URL", cfg->database_url, sizeof(cfg->database_url), err)) != 0 ||
        (rc = copy_str(&src, "AGENCY_DOMAINS", cfg->domains, sizeof(cfg->domains), err)) != 0)
        goto done;
    if (strncmp(cfg->database_url, "sqlite:", 7) != 0 && strncmp(cfg->database_url, "postgres://", 11) != 0 &&
        strncmp(cfg->database_url, "postgresql://", 13) != 0) {
        rc = ag_err_set(err, AG_ECONFIG, "AGENCY_DATABASE_URL: expected sqlite:PATH or postgres://...");
        goto done;
    }
    int64_t n;
    n = cfg->threads;
    if ((rc = parse_int(&src, "AGENCY_THREADS", 1, 256, &n, err)) != 0)
        goto done;
    cfg->threads = (int)n;
    n = cfg->lease_ms / 1000;
    if ((rc = parse_int(&src, "AGENCY_LEASE_SECONDS", 1, 86400, &n, err)) != 0)
        goto done;
    cfg->lease_ms = (int)n * 1000;
    n = cfg->claim_batch;
    if ((rc = parse_int(&src, "AGENCY_CLAIM_BATCH", 1, 1024, &n, err)) != 0)
        goto done;
    cfg->claim_batch = (int)n;
    n = cfg->concurrency;
    if ((rc = parse_int(&src, "AGENCY_WORKER_CONCURRENCY", 1, 1000000, &n, err)) != 0)
        goto done;
    cfg->concurrency = (int)n;
    if ((rc = parse_int(&src, "AGENCY_MAX_BODY", 1024, (int64_t)1 << 30, &cfg->max_body, err)) != 0 ||
        (rc = parse_int(&src, "AGENCY_LUA_CPU_BUDGET", 1000, INT64_MAX / 2, &cfg->cpu_budget, err)) != 0 ||
        (rc = parse_int(&src, "AGENCY_LUA_MEMORY_LIMIT", 1 << 20, (int64_t)1 << 40, &cfg->memory_limit, err)) != 0)
        goto done;
    if ((rc = copy_opt(&src, "AGENCY_JWT_SECRET", cfg->jwt_secret, sizeof(cfg->jwt_secret), err)) != 0 ||
        (rc = copy_opt(&src, "AGENCY_JWT_ISSUER", cfg->jwt_issuer, sizeof(cfg->jwt_issuer), err)) != 0 ||
        (rc = copy_opt(&src, "AGENCY_JWT_AUDIENCE", cfg->jwt_audience, sizeof(cfg->jwt_audience), err)) != 0 ||
        (rc = copy_opt(&src, "AGENCY_CORS_ORIGINS", cfg->cors_origins, sizeof(cfg->cors_origins), err)) != 0)
        goto done;
    if (cfg->jwt_secret[0] != '\0' && strlen(cfg->jwt_secret) < 16) {
        rc = ag_err_set(err, AG_ECONFIG, "AGENCY_JWT_SECRET: must be at least 16 bytes (32 or more recommended)");
        goto done;
    }
    n = cfg->jwt_leeway_s;
    if ((rc = parse_int(&src, "AGENCY_JWT_LEEWAY", 0, 3600, &n, err)) != 0)
        goto done;
    cfg->jwt_leeway_s = (int)n;
    n = cfg->rate_burst;
    if ((rc = parse_int(&src, "AGENCY_RATE_BURST", 1, 1000000, &n, err)) != 0)
        goto done;
    cfg->rate_burst = (int)n;
    n = cfg->request_timeout_ms / 1000;
    if ((rc = parse_int(&src, "AGENCY_REQUEST_TIMEOUT", 1, 3600, &n, err)) != 0)
        goto done;
    cfg->request_timeout_ms = (int)n * 1000;
    if ((rc = copy_opt(&src, "AGENCY_WEBHOOK_SECRET", cfg->webhook_secret, sizeof(cfg->webhook_secret), err)) != 0)
        goto done;
    n = cfg->webhook_retry_base_ms;
    if ((rc = parse_int(&src, "AGENCY_WEBHOOK_RETRY_BASE_MS", 1, 600000, &n, err)) != 0)
        goto done;
    cfg->webhook_retry_base_ms = (int)n;
    n = cfg->sse_keepalive_ms / 1000;
    if ((rc = parse_int(&src, "AGENCY_SSE_KEEPALIVE", 1, 3600, &n, err)) != 0)
        goto done;
    cfg->sse_keepalive_ms = (int)n * 1000;
    if ((v = lookup(&src, "AGENCY_RATE_LIMIT")) != NULL && *v != '\0') {
        char *end;
        double d = strtod(v, &end);
        if (*end != '\0' || !(d >= 0 && d <= 1e7)) {
            rc = ag_err_set(err, AG_ECONFIG, "AGENCY_RATE_LIMIT: expected requests per second from 0 (off) to "
                                             "10000000, got \"%s\"", v);
            goto done;
        }
        cfg->rate_limit = d;
    }
    if ((v = lookup(&src, "AGENCY_LOG_LEVEL")) != NULL && ag_log_parse_level(v, &cfg->log_level) != 0) {
        rc = ag_err_set(err, AG_ECONFIG, "AGENCY_LOG_LEVEL: expected debug, info, warn or error, got \"%s\"", v);
        goto done;
    }
    if ((v = lookup(&src, "AGENCY_LOG_FORMAT")) != NULL) {
        if (strcmp(v, "json") == 0)
            cfg->log_json = 1;
        else if (strcmp(v, "text") == 0)
            cfg->log_json = 0;
        else {
            rc = ag_err_set(err, AG_ECONFIG, "AGENCY_LOG_FORMAT: expected json or text, got \"%s\"", v);
            goto done;
        }
    }
    rc = ag__llm_config_load(&cfg->llm, lookup_any, &src, err);
done:
    free_source(&src);
    return rc;
}

void ag_config_mask_url(const char *url, char *out, size_t outsz)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (colon == NULL) {
        snprintf(out, outsz, "%s", url);
        return;
    }
    snprintf(out, outsz, "%.*s****%s", (int)(colon + 1 - url), url, at);
}

void ag_config_print(const ag_config_t *cfg, FILE *out)
{
    char masked[1024];
    ag_config_mask_url(cfg->database_url, masked, sizeof(masked));
    fprintf(out, "AGENCY_CONFIG=%s\n", cfg->config_file);
    fprintf(out, "AGENCY_LISTEN=%s:%d\n", cfg->listen_host, cfg->listen_port);
    fprintf(out, "AGENCY_DATABASE_URL=%s\n", masked);
    fprintf(out, "AGENCY_DOMAINS=%s\n", cfg->domains);
    fprintf(out, "AGENCY_THREADS=%d\n", cfg->threads);
    fprintf(out, "AGENCY_LOG_LEVEL=%s\n", ag_log_level_name(cfg->log_level));
    fprintf(out, "AGENCY_LOG_FORMAT=%s\n", cfg->log_json ? "json" : "text");
    fprintf(out, "AGENCY_LEASE_SECONDS=%d\n", cfg->lease_ms / 1000);
    fprintf(out, "AGENCY_CLAIM_BATCH=%d\n", cfg->claim_batch);
    fprintf(out, "AGENCY_WORKER_CONCURRENCY=%d\n", cfg->concurrency);
    fprintf(out, "AGENCY_MAX_BODY=%lld\n", (long long)cfg->max_body);
    fprintf(out, "AGENCY_LUA_CPU_BUDGET=%lld\n", (long long)cfg->cpu_budget);
    fprintf(out, "AGENCY_LUA_MEMORY_LIMIT=%lld\n", (long long)cfg->memory_limit);
    fprintf(out, "AGENCY_JWT_SECRET=%s\n", cfg->jwt_secret[0] ? "****" : "");
    fprintf(out, "AGENCY_JWT_ISSUER=%s\n", cfg->jwt_issuer);
    fprintf(out, "AGENCY_JWT_AUDIENCE=%s\n", cfg->jwt_audience);
    fprintf(out, "AGENCY_JWT_LEEWAY=%d\n", cfg->jwt_leeway_s);
    fprintf(out, "AGENCY_CORS_ORIGINS=%s\n", cfg->cors_origins);
    fprintf(out, "AGENCY_RATE_LIMIT=%g\n", cfg->rate_limit);
    fprintf(out, "AGENCY_RATE_BURST=%d\n", cfg->rate_burst);
    fprintf(out, "AGENCY_REQUEST_TIMEOUT=%d\n", cfg->request_timeout_ms / 1000);
    fprintf(out, "AGENCY_WEBHOOK_SECRET=%s\n", cfg->webhook_secret[0] ? "****" : "");
    fprintf(out, "AGENCY_WEBHOOK_RETRY_BASE_MS=%d\n", cfg->webhook_retry_base_ms);
    fprintf(out, "AGENCY_SSE_KEEPALIVE=%d\n", cfg->sse_keepalive_ms / 1000);
    ag_llm_config_print(&cfg->llm, out);
}
