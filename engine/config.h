/*
 * config.h: the engine's configuration, from the environment over an optional file.
 *
 * The file (AGENCY_CONFIG, or --config) holds KEY=VALUE lines with the same names as the
 * environment; '#' starts a comment. The environment wins over the file. Every value is validated
 * at load; a bad one fails with a message naming the variable.
 */
#ifndef AG_CONFIG_H
#define AG_CONFIG_H

#include <stdint.h>

#include "llm/llm_config.h"

#include "common.h"

typedef struct ag_config_s {
    char listen_host[256];
    int listen_port;
    char database_url[1024];
    char domains[1024];
    int threads;
    int log_level;
    int log_json;
    int lease_ms;          /* AGENCY_LEASE_SECONDS */
    int claim_batch;       /* AGENCY_CLAIM_BATCH: tasks claimed per store round trip */
    int concurrency;       /* AGENCY_WORKER_CONCURRENCY: coroutines in flight per loop thread */
    int64_t max_body;      /* AGENCY_MAX_BODY: request body limit in bytes */
    int64_t cpu_budget;    /* AGENCY_LUA_CPU_BUDGET: default Lua instructions per run */
    int64_t memory_limit;  /* AGENCY_LUA_MEMORY_LIMIT: default bytes a run may hold */
    /* HTTP middleware (api/) */
    char jwt_secret[512];   /* AGENCY_JWT_SECRET: HS256 key; empty = authentication off (loopback only) */
    char jwt_issuer[256];   /* AGENCY_JWT_ISSUER: required iss when set */
    char jwt_audience[256]; /* AGENCY_JWT_AUDIENCE: required aud when set */
    int jwt_leeway_s;       /* AGENCY_JWT_LEEWAY: clock skew allowed on exp/nbf */
    char cors_origins[1024]; /* AGENCY_CORS_ORIGINS: comma-separated origins allowed; empty = none */
    double rate_limit;      /* AGENCY_RATE_LIMIT: requests per second per subject or client; 0 = off */
    int rate_burst;         /* AGENCY_RATE_BURST */
    int request_timeout_ms; /* AGENCY_REQUEST_TIMEOUT: seconds to receive a request's headers and body */
    /* webhooks (api/webhooks.c, engine/webhooks.c) */
    char webhook_secret[512]; /* AGENCY_WEBHOOK_SECRET: verifies incoming webhooks; empty = they answer 503 */
    int webhook_retry_base_ms; /* AGENCY_WEBHOOK_RETRY_BASE_MS: first retry delay of outgoing deliveries */
    int sse_keepalive_ms;   /* AGENCY_SSE_KEEPALIVE: seconds between keep-alive comments on /api/v1/events */
    ag_llm_config_t llm; /* OPENAI_*, ANTHROPIC_*, AGENCY_LLM_* (llm/llm_config.h) */
    char config_file[1024];
} ag_config_t;

/* 1 when host is a loopback address or name. */
int ag_config_is_loopback(const char *host);

/* Fills cfg with defaults, then the file (path may be NULL: AGENCY_CONFIG), then the environment. */
int ag_config_load(ag_config_t *cfg, const char *path, ag_err_t *err);

/* Prints the effective values, one NAME=value per line, secrets masked. */
void ag_config_print(const ag_config_t *cfg, FILE *out);

/* Copies url into out with any password replaced by "****". */
void ag_config_mask_url(const char *url, char *out, size_t outsz);

#endif
