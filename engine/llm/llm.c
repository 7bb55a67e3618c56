/* llm.c: see llm.h. */
#include "llm.h"

#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../http_client.h"
#include "../log.h"
#include "../metrics.h"
#include "provider.h"

#define AG_LOG_MODULE "llm"

/* ---- configuration ------------------------------------------------------------------------------------------ */

static int get_str(ag_config_lookup_fn lookup, const void *src, const char *key, char *dst, size_t n, ag_err_t *err)
{
    const char *v = lookup(src, key);
    if (v == NULL)
        return 0;
    if (strlen(v) >= n)
        return ag_err_set(err, AG_ECONFIG, "%s: must be under %zu bytes", key, n);
    strcpy(dst, v);
    return 0;
}

static int get_num(ag_config_lookup_fn lookup, const void *src, const char *key, double min, double max, double *out,
                   ag_err_t *err)
{
    const char *v = lookup(src, key);
    if (v == NULL || *v == '\0')
        return 0;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno != 0 || *end != '\0' || !(d >= min && d <= max))
        return ag_err_set(err, AG_ECONFIG, "%s: expected a number from %g to %g, got \"%s\"", key, min, max, v);
    *out = d;
    return 0;
}

static int get_int(ag_config_lookup_fn lookup, const void *src, const char *key, int min, int max, int scale, int *out,
                   ag_err_t *err)
{
    double d = (double)*out / scale;
    int rc = get_num(lookup, src, key, min, max, &d, err);
    if (rc == 0)
        *out = (int)llround(d * scale);
    return rc;
}

static void strip_slash(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
}

int ag__llm_config_load(ag_llm_config_t *c, ag_config_lookup_fn lookup, const void *src, ag_err_t *err)
{
    memset(c, 0, sizeof(*c));
    strcpy(c->openai_base_url, "https://api.openai.com/v1");
    strcpy(c->anthropic_base_url, "https://api.anthropic.com");
    c->timeout_ms = 60000;
    c->connect_timeout_ms = 10000;
    c->retries = 2;
    c->retry_base_ms = 500;
    c->retry_max_ms = 30000;
    c->limits.failures = 5;
    c->limits.cooldown_ms = 30000;
    int rc;
    if ((rc = get_str(lookup, src, "OPENAI_API_KEY", c->openai_key, sizeof(c->openai_key), err)) != 0 ||
        (rc = get_str(lookup, src, "ANTHROPIC_API_KEY", c->anthropic_key, sizeof(c->anthropic_key), err)) != 0 ||
        (rc = get_str(lookup, src, "AGENCY_LLM_MODEL", c->model, sizeof(c->model), err)) != 0 ||
        (rc = get_str(lookup, src, "AGENCY_LLM_FALLBACK", c->fallback, sizeof(c->fallback), err)) != 0 ||
        (rc = get_str(lookup, src, "AGENCY_LLM_PRICES", c->prices, sizeof(c->prices), err)) != 0)
        return rc;
    const char *v = lookup(src, "OPENAI_BASE_URL");
    if (v != NULL && *v != '\0' && (rc = get_str(lookup, src, "OPENAI_BASE_URL", c->openai_base_url,
                                                 sizeof(c->openai_base_url), err)) != 0)
        return rc;
    v = lookup(src, "ANTHROPIC_BASE_URL");
    if (v != NULL && *v != '\0' && (rc = get_str(lookup, src, "ANTHROPIC_BASE_URL", c->anthropic_base_url,
                                                 sizeof(c->anthropic_base_url), err)) != 0)
        return rc;
    strip_slash(c->openai_base_url);
    strip_slash(c->anthropic_base_url);
    if ((rc = get_str(lookup, src, "AGENCY_LLM_PROVIDER", c->provider, sizeof(c->provider), err)) != 0)
        return rc;
    if (c->provider[0] == '\0')
        strcpy(c->provider, c->openai_key[0] ? "openai" : c->anthropic_key[0] ? "anthropic" : "mock");
    if (ag_llm_provider(c->provider) == NULL)
        return ag_err_set(err, AG_ECONFIG, "AGENCY_LLM_PROVIDER: expected openai, anthropic or mock, got \"%s\"",
                          c->provider);
    char fb[sizeof(c->fallback)];
    snprintf(fb, sizeof(fb), "%s", c->fallback);
    int n = 0;
    for (char *save = NULL, *p = strtok_r(fb, ", ", &save); p; p = strtok_r(NULL, ", ", &save)) {
        if (ag_llm_provider(p) == NULL)
            return ag_err_set(err, AG_ECONFIG, "AGENCY_LLM_FALLBACK: unknown provider \"%s\" (openai, anthropic, "
                                               "mock)", p);
        if (++n >= AG_LLM_MAX_CHAIN)
            return ag_err_set(err, AG_ECONFIG, "AGENCY_LLM_FALLBACK: at most %d providers", AG_LLM_MAX_CHAIN - 1);
    }
    if ((rc = get_int(lookup, src, "AGENCY_LLM_TIMEOUT", 1, 3600, 1000, &c->timeout_ms, err)) != 0 ||
        (rc = get_int(lookup, src, "AGENCY_LLM_CONNECT_TIMEOUT", 1, 600, 1000, &c->connect_timeout_ms, err)) != 0 ||
        (rc = get_int(lookup, src, "AGENCY_LLM_RETRIES", 0, 10, 1, &c->retries, err)) != 0 ||
        (rc = get_int(lookup, src, "AGENCY_LLM_RETRY_BASE_MS", 1, 600000, 1, &c->retry_base_ms, err)) != 0 ||
        (rc = get_int(lookup, src, "AGENCY_LLM_RETRY_MAX_MS", 1, 3600000, 1, &c->retry_max_ms, err)) != 0 ||
        (rc = get_int(lookup, src, "AGENCY_LLM_CONCURRENCY", 0, 1000000, 1, &c->limits.concurrency, err)) != 0 ||
        (rc = get_int(lookup, src, "AGENCY_LLM_RPM", 0, 100000000, 1, &c->limits.rpm, err)) != 0 ||
        (rc = get_int(lookup, src, "AGENCY_LLM_TPM", 0, 2000000000, 1, &c->limits.tpm, err)) != 0 ||
        (rc = get_int(lookup, src, "AGENCY_LLM_CIRCUIT_FAILURES", 0, 1000, 1, &c->limits.failures, err)) != 0 ||
        (rc = get_int(lookup, src, "AGENCY_LLM_CIRCUIT_COOLDOWN", 1, 86400, 1000, &c->limits.cooldown_ms, err)) != 0 ||
        (rc = get_num(lookup, src, "AGENCY_LLM_TASK_BUDGET", 0, 1e9, &c->task_budget, err)) != 0 ||
        (rc = get_num(lookup, src, "AGENCY_LLM_DOMAIN_DAILY_BUDGET", 0, 1e9, &c->domain_daily_budget, err)) != 0)
        return rc;
    /* the price table must parse now, not at the first call */
    char pr[sizeof(c->prices)];
    snprintf(pr, sizeof(pr), "%s", c->prices);
    for (char *save = NULL, *p = strtok_r(pr, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        double in, out;
        char *eq = strrchr(p, '=');
        if (eq == NULL || eq == p || sscanf(eq + 1, "%lf/%lf", &in, &out) != 2 || in < 0 || out < 0)
            return ag_err_set(err, AG_ECONFIG, "AGENCY_LLM_PRICES: expected model=input/output (USD per million "
                                               "tokens), got \"%s\"", p);
    }
    return 0;
}

void ag_llm_config_print(const ag_llm_config_t *c, FILE *out)
{
    fprintf(out, "AGENCY_LLM_PROVIDER=%s\n", c->provider);
    fprintf(out, "AGENCY_LLM_MODEL=%s\n", c->model);
    fprintf(out, "AGENCY_LLM_FALLBACK=%s\n", c->fallback);
    fprintf(out, "OPENAI_API_KEY=%s\n", c->openai_key[0] ? "****" : "");
    fprintf(out, "OPENAI_BASE_URL=%s\n", c->openai_base_url);
    fprintf(out, "ANTHROPIC_API_KEY=%s\n", c->anthropic_key[0] ? "****" : "");
    fprintf(out, "ANTHROPIC_BASE_URL=%s\n", c->anthropic_base_url);
    fprintf(out, "AGENCY_LLM_TIMEOUT=%g\n", c->timeout_ms / 1000.0);
    fprintf(out, "AGENCY_LLM_CONNECT_TIMEOUT=%g\n", c->connect_timeout_ms / 1000.0);
    fprintf(out, "AGENCY_LLM_RETRIES=%d\n", c->retries);
    fprintf(out, "AGENCY_LLM_RETRY_BASE_MS=%d\n", c->retry_base_ms);
    fprintf(out, "AGENCY_LLM_RETRY_MAX_MS=%d\n", c->retry_max_ms);
    fprintf(out, "AGENCY_LLM_CONCURRENCY=%d\n", c->limits.concurrency);
    fprintf(out, "AGENCY_LLM_RPM=%d\n", c->limits.rpm);
    fprintf(out, "AGENCY_LLM_TPM=%d\n", c->limits.tpm);
    fprintf(out, "AGENCY_LLM_CIRCUIT_FAILURES=%d\n", c->limits.failures);
    fprintf(out, "AGENCY_LLM_CIRCUIT_COOLDOWN=%g\n", c->limits.cooldown_ms / 1000.0);
    fprintf(out, "AGENCY_LLM_PRICES=%s\n", c->prices);
    fprintf(out, "AGENCY_LLM_TASK_BUDGET=%g\n", c->task_budget);
    fprintf(out, "AGENCY_LLM_DOMAIN_DAILY_BUDGET=%g\n", c->domain_daily_budget);
}

const char *ag_llm_default_model(const char *provider)
{
    if (strcmp(provider, "openai") == 0)
        return "gpt-4o-mini";
    if (strcmp(provider, "anthropic") == 0)
        return "claude-3-5-haiku-latest";
    return "mock";
}

/* USD per million tokens, used when AGENCY_LLM_PRICES does not name the model (prefix match). */
static const struct {
    const char *prefix;
    double in, out;
} builtin_prices[] = {
    {"gpt-4o-mini", 0.15, 0.60},      {"gpt-4o", 2.50, 10.00},          {"gpt-4.1-mini", 0.40, 1.60},
    {"gpt-4.1", 2.00, 8.00},          {"claude-3-5-haiku", 0.80, 4.00}, {"claude-3-5-sonnet", 3.00, 15.00},
    {"claude-sonnet-4", 3.00, 15.00}, {"claude-opus-4", 15.00, 75.00},
};

double ag_llm_cost(const ag_llm_config_t *c, const char *model, int64_t pt, int64_t ct)
{
    double in = 0, out = 0;
    int found = 0;
    size_t ml = strlen(model);
    for (const char *p = c->prices; *p && !found;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        while (eq && memchr(eq + 1, '=', len - (size_t)(eq + 1 - p)))
            eq = memchr(eq + 1, '=', len - (size_t)(eq + 1 - p));
        while (p < eq && *p == ' ')
            p++;
        if (eq && (size_t)(eq - p) == ml && memcmp(p, model, ml) == 0 && sscanf(eq + 1, "%lf/%lf", &in, &out) == 2)
            found = 1;
        p += len + (comma ? 1 : 0);
    }
    for (size_t i = 0; !found && i < sizeof(builtin_prices) / sizeof(builtin_prices[0]); i++)
        if (strncmp(model, builtin_prices[i].prefix, strlen(builtin_prices[i].prefix)) == 0) {
            in = builtin_prices[i].in;
            out = builtin_prices[i].out;
            found = 1;
        }
    return ((double)pt * in + (double)ct * out) / 1e6;
}

int64_t ag_llm_retry_after_ms(const char *v, int64_t now_ms)
{
    if (v == NULL || *v == '\0')
        return -1;
    char *end;
    double secs = strtod(v, &end);
    if (end != v && *end == '\0')
        return secs < 0 ? -1 : (int64_t)(secs * 1000.0);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *r = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (r == NULL)
        return -1;
    int64_t at = (int64_t)timegm(&tm) * 1000;
    return at > now_ms ? at - now_ms : 0;
}

/* ---- process-wide state --------------------------------------------------------------------------------------- */

struct ag_llm_shared_s {
    ag_llm_config_t c;
    pthread_mutex_t mu;
    struct {
        char name[32];
        ag_llm_limits_t *limits;
    } p[8];
    int np;
};

ag_llm_shared_t *ag_llm_shared_new(const ag_llm_config_t *c)
{
    ag_llm_shared_t *s = ag_xcalloc(1, sizeof(*s));
    s->c = *c;
    pthread_mutex_init(&s->mu, NULL);
    ag_metric_define("agency_llm_calls_total", "LLM calls, by provider, model and outcome (ok, replayed or an "
                     "error code).", AG_COUNTER);
    ag_metric_define("agency_llm_tokens_total", "LLM tokens, by provider, model and kind (prompt, completion).",
                     AG_COUNTER);
    ag_metric_define("agency_llm_cost_usd_total", "LLM spend in US dollars, by provider and model.", AG_COUNTER);
    ag_metric_define("agency_llm_call_duration_seconds", "LLM call latency, by provider and model.", AG_HISTOGRAM);
    return s;
}

void ag_llm_shared_free(ag_llm_shared_t *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->np; i++)
        ag_llm_limits_free(s->p[i].limits);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

const ag_llm_config_t *ag_llm_shared_config(const ag_llm_shared_t *s)
{
    return &s->c;
}

ag_llm_limits_t *ag_llm_shared_limits(ag_llm_shared_t *s, const char *provider)
{
    ag_llm_limits_t *l = NULL;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->np && l == NULL; i++)
        if (strcmp(s->p[i].name, provider) == 0)
            l = s->p[i].limits;
    if (l == NULL) {
        AG_ASSERT(s->np < 8);
        snprintf(s->p[s->np].name, sizeof(s->p[s->np].name), "%s", provider);
        l = s->p[s->np++].limits = ag_llm_limits_new(&s->c.limits);
    }
    pthread_mutex_unlock(&s->mu);
    return l;
}

void ag_llm_shared_target(const ag_llm_shared_t *s, const char *provider, const char **base_url, const char **key)
{
    *base_url = *key = NULL;
    if (strcmp(provider, "openai") == 0) {
        *base_url = s->c.openai_base_url;
        *key = s->c.openai_key;
    } else if (strcmp(provider, "anthropic") == 0) {
        *base_url = s->c.anthropic_base_url;
        *key = s->c.anthropic_key;
    }
}

void ag_llm_health_json(ag_llm_shared_t *s, ag_buf_t *b)
{
    const char *chain[AG_LLM_MAX_CHAIN + 1];
    int n = 0;
    chain[n++] = s->c.provider;
    char fb[sizeof(s->c.fallback)];
    snprintf(fb, sizeof(fb), "%s", s->c.fallback);
    for (char *save = NULL, *p = strtok_r(fb, ", ", &save); p && n <= AG_LLM_MAX_CHAIN; p = strtok_r(NULL, ", ", &save))
        chain[n++] = ag_llm_provider(p)->name;
    ag_buf_t items;
    ag_buf_init(&items);
    int degraded = 0;
    int64_t now = ag_now_ms();
    for (int i = 0; i < n; i++) {
        int dup = 0;
        for (int j = 0; j < i; j++)
            dup |= strcmp(chain[i], chain[j]) == 0;
        if (dup)
            continue;
        const char *base, *key;
        ag_llm_shared_target(s, chain[i], &base, &key);
        const char *circuit = strcmp(chain[i], "mock") == 0 ? "closed" : ag_llm_limits_state(ag_llm_shared_limits(s, chain[i]), now);
        degraded |= strcmp(circuit, "open") == 0;
        ag_buf_printf(&items, "%s{\"name\":\"%s\",\"configured\":%s,\"base_url\":", items.len ? "," : "", chain[i],
                      strcmp(chain[i], "mock") == 0 || (key && *key) ? "true" : "false");
        if (base)
            ag_buf_json_strz(&items, base);
        else
            ag_buf_puts(&items, "null");
        ag_buf_printf(&items, ",\"circuit\":\"%s\"}", circuit);
    }
    ag_buf_printf(b, "\"llm\":{\"status\":\"%s\",\"provider\":", degraded ? "degraded" : "ok");
    ag_buf_json_strz(b, s->c.provider);
    ag_buf_puts(b, ",\"model\":");
    ag_buf_json_strz(b, s->c.model[0] ? s->c.model : ag_llm_default_model(s->c.provider));
    ag_buf_puts(b, ",\"providers\":[");
    if (items.len)
        ag_buf_put(b, items.data, items.len);
    ag_buf_puts(b, "]}");
    ag_buf_free(&items);
}

/* ---- per loop ----------------------------------------------------------------------------------------------------- */

struct ag_llm_loop_s {
    ag_llm_shared_t *shared;
    ag_store_t *store;
    ag_hc_t *hc;
    uv_check_t flusher;
    ag_llm_call_t *rows;
    size_t nrows, caprows;
    /* replay mode */
    int replaying;
    const ag_llm_call_t *replay_rows;
    size_t nreplay;
    ag_llm_replay_cb replay_cb;
    void *replay_data;
};

void ag_llm_loop_replay(ag_llm_loop_t *l, const ag_llm_call_t *rows, size_t n, ag_llm_replay_cb cb, void *data)
{
    l->replaying = 1;
    l->replay_rows = rows;
    l->nreplay = n;
    l->replay_cb = cb;
    l->replay_data = data;
}

int ag_llm_loop_replaying(const ag_llm_loop_t *l)
{
    return l->replaying;
}

const ag_llm_call_t *ag_llm_loop_replay_find(ag_llm_loop_t *l, int seq, const char *hash)
{
    const ag_llm_call_t *row = NULL;
    for (size_t i = 0; i < l->nreplay; i++)
        if (l->replay_rows[i].seq == seq && (row == NULL || l->replay_rows[i].response != NULL))
            row = &l->replay_rows[i];
    if (l->replay_cb)
        l->replay_cb(seq, row, hash, l->replay_data);
    return row;
}

static void on_flush(uv_check_t *h)
{
    ag_llm_loop_flush(h->data);
}

int ag_llm_loop_new(ag_llm_loop_t **out, uv_loop_t *loop, ag_llm_shared_t *shared, ag_store_t *store, ag_err_t *err)
{
    ag_llm_loop_t *l = ag_xcalloc(1, sizeof(*l));
    l->shared = shared;
    l->store = store;
    if (ag_hc_new(&l->hc, loop) != 0) {
        free(l);
        return ag_err_set(err, -ENOMEM, "llm: cannot create the HTTP client");
    }
    uv_check_init(loop, &l->flusher);
    l->flusher.data = l;
    uv_unref((uv_handle_t *)&l->flusher);
    *out = l;
    return 0;
}

static void on_flusher_closed(uv_handle_t *h)
{
    free(h->data);
}

void ag_llm_loop_close(ag_llm_loop_t *l)
{
    if (l == NULL)
        return;
    ag_llm_loop_flush(l);
    free(l->rows);
    ag_hc_close(l->hc);
    uv_check_stop(&l->flusher);
    uv_close((uv_handle_t *)&l->flusher, on_flusher_closed);
}

ag_llm_shared_t *ag_llm_loop_shared(ag_llm_loop_t *l)
{
    return l->shared;
}

ag_hc_t *ag_llm_loop_http(ag_llm_loop_t *l)
{
    return l->hc;
}

ag_store_t *ag_llm_loop_store(ag_llm_loop_t *l)
{
    return l->store;
}

static char *dup_or_null(const char *s)
{
    return s ? ag_xstrdup(s) : NULL;
}

void ag_llm_loop_journal(ag_llm_loop_t *l, const ag_llm_call_t *c)
{
    if (l->nrows == l->caprows) {
        l->caprows = l->caprows ? l->caprows * 2 : 64;
        l->rows = ag_xrealloc(l->rows, l->caprows * sizeof(*l->rows));
    }
    ag_llm_call_t *r = &l->rows[l->nrows++];
    *r = *c;
    r->domain = dup_or_null(c->domain);
    r->provider = dup_or_null(c->provider);
    r->model = dup_or_null(c->model);
    r->response = dup_or_null(c->response);
    r->error_code = dup_or_null(c->error_code);
    r->error = dup_or_null(c->error);
    if (l->nrows == 1)
        uv_check_start(&l->flusher, on_flush);
}

void ag_llm_loop_flush(ag_llm_loop_t *l)
{
    uv_check_stop(&l->flusher);
    if (l->nrows == 0)
        return;
    ag_err_t err;
    if (l->store != NULL && l->store->ops->llm_calls_add(l->store, l->rows, l->nrows, &err) != 0)
        AG_LOG(AG_LOG_ERROR, "llm journal not written rows=%zu error=%s", l->nrows, err.msg);
    for (size_t i = 0; i < l->nrows; i++) {
        ag_llm_call_t *r = &l->rows[i];
        free(r->domain);
        free(r->provider);
        free(r->model);
        free(r->response);
        free(r->error_code);
        free(r->error);
    }
    l->nrows = 0;
}

/* ---- request hash ------------------------------------------------------------------------------------------------ */

#define FNV_PRIME 0x100000001b3ULL

static void mix(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= FNV_PRIME;
    }
}

/* The hash of the value at idx. A table's pairs are hashed one by one and summed, so the result does not
 * depend on the order lua_next visits them (it differs between states and runs) and nothing is allocated. */
static uint64_t hash_value(lua_State *L, int idx, int depth)
{
    idx = lua_absindex(L, idx);
    uint64_t h = 0xcbf29ce484222325ULL;
    int t = lua_type(L, idx);
    char tag = (char)('0' + t);
    mix(&h, &tag, 1);
    switch (t) {
    case LUA_TBOOLEAN: {
        char b = (char)lua_toboolean(L, idx);
        mix(&h, &b, 1);
        break;
    }
    case LUA_TNUMBER: {
        char num[64];
        int n = lua_isinteger(L, idx) ? snprintf(num, sizeof(num), "%lld", (long long)lua_tointeger(L, idx))
                                      : snprintf(num, sizeof(num), "%.17g", lua_tonumber(L, idx));
        mix(&h, num, (size_t)n);
        break;
    }
    case LUA_TSTRING: {
        size_t n;
        const char *str = lua_tolstring(L, idx, &n);
        mix(&h, &n, sizeof(n));
        mix(&h, str, n);
        break;
    }
    case LUA_TTABLE: {
        if (depth > 64)
            break;
        uint64_t sum = 0, count = 0;
        lua_pushnil(L);
        while (lua_next(L, idx) != 0) {
            uint64_t ph = 0xcbf29ce484222325ULL;
            if (lua_type(L, -2) == LUA_TSTRING) {
                size_t kl;
                const char *k = lua_tolstring(L, -2, &kl); /* a string key: no conversion in place */
                mix(&ph, k, kl);
            } else if (lua_type(L, -2) == LUA_TNUMBER) {
                char num[64];
                int n = lua_isinteger(L, -2) ? snprintf(num, sizeof(num), "%lld", (long long)lua_tointeger(L, -2))
                                             : snprintf(num, sizeof(num), "%.17g", lua_tonumber(L, -2));
                mix(&ph, num, (size_t)n);
            } else {
                lua_pop(L, 1);
                continue;
            }
            char sep = '=';
            mix(&ph, &sep, 1);
            uint64_t vh = hash_value(L, -1, depth + 1);
            mix(&ph, &vh, sizeof(vh));
            sum += ph;
            count++;
            lua_pop(L, 1);
        }
        mix(&h, &count, sizeof(count));
        mix(&h, &sum, sizeof(sum));
        break;
    }
    default:
        break;
    }
    return h;
}

void ag_llm_hash(lua_State *L, int idx, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)hash_value(L, idx, 0));
}

/* ---- metrics ------------------------------------------------------------------------------------------------------- */

/* The series of one (provider, model, outcome), resolved once per thread: ag_series takes a process-wide
 * mutex and walks a list, which every call would otherwise do five times. */
typedef struct series_set_s {
    struct series_set_s *next;
    char key[256];
    ag_series_t *calls, *cost, *duration, *prompt, *completion;
} series_set_t;

static __thread series_set_t *series_cache;

static series_set_t *series_set(const char *provider, const char *model, const char *outcome)
{
    char key[256];
    snprintf(key, sizeof(key), "%s\x1f%s\x1f%s", provider, model, outcome);
    for (series_set_t *s = series_cache; s; s = s->next)
        if (strcmp(s->key, key) == 0)
            return s;
    series_set_t *s = ag_xcalloc(1, sizeof(*s));
    snprintf(s->key, sizeof(s->key), "%s", key);
    ag_buf_t b;
    ag_buf_init(&b);
    ag_metrics_label(&b, "provider", provider);
    ag_metrics_label(&b, "model", model);
    size_t base = b.len;
    ag_metrics_label(&b, "outcome", outcome);
    ag_buf_putc(&b, '\0');
    s->calls = ag_series("agency_llm_calls_total", b.data);
    b.len = base;
    ag_buf_putc(&b, '\0');
    s->cost = ag_series("agency_llm_cost_usd_total", b.data);
    s->duration = ag_series("agency_llm_call_duration_seconds", b.data);
    b.len = base;
    ag_metrics_label(&b, "kind", "prompt");
    ag_buf_putc(&b, '\0');
    s->prompt = ag_series("agency_llm_tokens_total", b.data);
    b.len = base;
    ag_metrics_label(&b, "kind", "completion");
    ag_buf_putc(&b, '\0');
    s->completion = ag_series("agency_llm_tokens_total", b.data);
    ag_buf_free(&b);
    s->next = series_cache;
    series_cache = s;
    return s;
}

void ag_llm_metrics_call(const char *provider, const char *model, const char *outcome, int64_t pt, int64_t ct,
                         double cost, int64_t latency_ms)
{
    series_set_t *s = series_set(provider, model, outcome);
    ag_series_add(s->calls, 1);
    if (strcmp(outcome, "replayed") != 0) {
        ag_series_add(s->cost, cost);
        ag_series_observe(s->duration, (double)latency_ms / 1000.0);
        ag_series_add(s->prompt, (double)pt);
        ag_series_add(s->completion, (double)ct);
    }
}
