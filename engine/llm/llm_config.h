/*
 * llm_config.h: the LLM settings (README "Configuration"), part of the engine's configuration.
 */
#ifndef AG_LLM_CONFIG_H
#define AG_LLM_CONFIG_H

#include <stdio.h>

#include "../common.h"
#include "limits.h"

#define AG_LLM_MAX_CHAIN 4

typedef struct ag_llm_config_s {
    char provider[32];        /* AGENCY_LLM_PROVIDER; default: openai with OPENAI_API_KEY, else anthropic with
                                 ANTHROPIC_API_KEY, else mock */
    char model[128];          /* AGENCY_LLM_MODEL; default: the provider's own default */
    char fallback[256];       /* AGENCY_LLM_FALLBACK: providers tried, in order, after the chosen one */
    char openai_key[512], openai_base_url[512];       /* OPENAI_API_KEY, OPENAI_BASE_URL */
    char anthropic_key[512], anthropic_base_url[512]; /* ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL */
    int timeout_ms;           /* AGENCY_LLM_TIMEOUT (s): one HTTP attempt, total */
    int connect_timeout_ms;   /* AGENCY_LLM_CONNECT_TIMEOUT (s) */
    int retries;              /* AGENCY_LLM_RETRIES: further attempts per provider on 429/5xx/transport errors */
    int retry_base_ms;        /* AGENCY_LLM_RETRY_BASE_MS */
    int retry_max_ms;         /* AGENCY_LLM_RETRY_MAX_MS: cap of a backoff and of a Retry-After */
    ag_llm_limits_conf_t limits; /* AGENCY_LLM_CONCURRENCY, _RPM, _TPM, _CIRCUIT_FAILURES, _CIRCUIT_COOLDOWN */
    char prices[2048];        /* AGENCY_LLM_PRICES: "model=in/out,..." USD per million tokens */
    double task_budget;       /* AGENCY_LLM_TASK_BUDGET: USD per task over all attempts; 0 = none */
    double domain_daily_budget; /* AGENCY_LLM_DOMAIN_DAILY_BUDGET: USD per domain per UTC day; 0 = none */
    int offline;              /* not configurable: agency test sets it so that the mock answers every call,
                                 whatever provider the script or its domain asks for */
} ag_llm_config_t;

typedef const char *(*ag_config_lookup_fn)(const void *src, const char *key);
/* Fills c from the configuration source (config.c); AG_ECONFIG naming the variable on a bad value. */
int ag__llm_config_load(ag_llm_config_t *c, ag_config_lookup_fn lookup, const void *src, ag_err_t *err);
void ag_llm_config_print(const ag_llm_config_t *c, FILE *out);

#endif
