/* main.c: the `agency` command line. */
#include <curl/curl.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "../api/auth.h"
#include "engine.h"
#include "llm/llm.h"
#include "log.h"

#define AG_LOG_MODULE "main"

static const char usage[] =
    "usage: agency [--config FILE] <command> [args]\n"
    "\n"
    "commands:\n"
    "  serve                        run the HTTP API and the workers (default store: sqlite:var/agency.db)\n"
    "  migrate                      apply database migrations and exit\n"
    "  check [PATH]                 compile and validate every script under PATH (default: AGENCY_DOMAINS),\n"
    "                               or one file; prints file:line for each error, exits 1 if any\n"
    "  run DOMAIN/AGENT --input F   run one agent once on the JSON input in file F (- for stdin), print the result\n"
    "  demo [--scenario F] [--live] run the agency loop end to end on a temporary database (an offer, 20 leads,\n"
    "                               mock LLM unless --live) and print what every agent did and the refined offer\n"
    "  test [PATH] [--filter TEXT] [-v]\n"
    "                               run the *_test.lua files under PATH (default: AGENCY_DOMAINS), or one file,\n"
    "                               offline (mock LLM, in-memory store); one line per test, exit 1 if any fails\n"
    "                               or none is found\n"
    "  replay TASK_ID [--attempt N] re-run a finished task offline from its LLM journal with the current scripts;\n"
    "                               shows each call that diverges and compares the result (exit 1 if any differs)\n"
    "  config                       print the effective configuration (secrets masked)\n"
    "  token --sub NAME --scope S [--ttl 1h]\n"
    "                               mint a JWT with AGENCY_JWT_SECRET (scopes: agents:read agents:write\n"
    "                               tasks:read tasks:write admin; ttl like 3600, 90s, 15m, 1h, 7d)\n"
    "  --help, -h                   this help\n"
    "  --version                    the version\n"
    "\n"
    "configuration (environment, over the optional file given by --config or AGENCY_CONFIG):\n"
    "  AGENCY_LISTEN=127.0.0.1:8080  AGENCY_DATABASE_URL=sqlite:var/agency.db  AGENCY_DOMAINS=./domains\n"
    "  AGENCY_THREADS=<cores>  AGENCY_LOG_LEVEL=info  AGENCY_LOG_FORMAT=json|text  AGENCY_LEASE_SECONDS=30\n"
    "  AGENCY_CLAIM_BATCH=64  AGENCY_WORKER_CONCURRENCY=1024  AGENCY_MAX_BODY=1048576\n"
    "  AGENCY_LUA_CPU_BUDGET=50000000  AGENCY_LUA_MEMORY_LIMIT=67108864\n"
    "  AGENCY_JWT_SECRET=  AGENCY_JWT_ISSUER=  AGENCY_JWT_AUDIENCE=  AGENCY_JWT_LEEWAY=30\n"
    "  AGENCY_CORS_ORIGINS=  AGENCY_RATE_LIMIT=100  AGENCY_RATE_BURST=200  AGENCY_REQUEST_TIMEOUT=10\n"
    "  LLM: AGENCY_LLM_PROVIDER=openai|anthropic|mock  AGENCY_LLM_MODEL=  AGENCY_LLM_FALLBACK=  OPENAI_API_KEY=\n"
    "  OPENAI_BASE_URL=  ANTHROPIC_API_KEY=  ANTHROPIC_BASE_URL=  AGENCY_LLM_TIMEOUT=60  AGENCY_LLM_RETRIES=2\n"
    "  (all of them: `agency config`, README \"Configuration\")\n"
    "docs: README.md, docs/api.md, docs/scripting.md, docs/operations.md\n";

static int load_config(ag_config_t *cfg, const char *file)
{
    ag_err_t err;
    if (ag_config_load(cfg, file, &err) != 0) {
        fprintf(stderr, "agency: configuration error: %s\n", err.msg);
        return 2;
    }
    ag_log_level = cfg->log_level;
    ag_log_json = cfg->log_json;
    return 0;
}

static int cmd_serve(const ag_config_t *cfg)
{
    /* glibc gives freed heap tops back with brk() by default; under load that is a munmap, a TLB
     * shootdown across loop threads and fresh page faults on every burst (measured: a fifth of the
     * CPU time of task creation). Keep up to 32 MiB of freed heap instead. */
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    if (cfg->jwt_secret[0] == '\0' && !ag_config_is_loopback(cfg->listen_host)) {
        fprintf(stderr, "agency: AGENCY_JWT_SECRET is not set, so the API has no authentication; refusing to listen "
                        "on %s (only loopback addresses are allowed without a secret)\n",
                cfg->listen_host);
        return 1;
    }
    if (cfg->jwt_secret[0] == '\0')
        AG_LOG(AG_LOG_WARN, "authentication is off (AGENCY_JWT_SECRET is not set); listening on loopback only");
    ag_engine_t *eng = ag_xcalloc(1, sizeof(*eng));
    ag_err_t err;
    int rc = ag_engine_init(eng, cfg, &err);
    if (rc == 0)
        rc = ag_engine_run(eng, &err);
    if (rc != 0) {
        AG_LOG(AG_LOG_ERROR, "cannot serve: %s", err.msg);
        fprintf(stderr, "agency: %s\n", err.msg);
        return 1;
    }
    ag_engine_destroy(eng);
    free(eng);
    return 0;
}

static int cmd_token(const ag_config_t *cfg, int argc, char **argv)
{
    const char *sub = NULL, *scope = NULL, *ttl = "1h";
    for (int k = 0; k + 1 < argc; k += 2) {
        if (strcmp(argv[k], "--sub") == 0)
            sub = argv[k + 1];
        else if (strcmp(argv[k], "--scope") == 0)
            scope = argv[k + 1];
        else if (strcmp(argv[k], "--ttl") == 0)
            ttl = argv[k + 1];
        else {
            fprintf(stderr, "agency token: unknown option %s\n", argv[k]);
            return 2;
        }
    }
    int64_t ttl_s;
    if (sub == NULL || scope == NULL || ag_auth_parse_ttl(ttl, &ttl_s) != 0) {
        fprintf(stderr, "usage: agency token --sub NAME --scope \"tasks:read tasks:write\" [--ttl 1h]\n");
        return 2;
    }
    if (cfg->jwt_secret[0] == '\0') {
        fprintf(stderr, "agency token: AGENCY_JWT_SECRET is not set\n");
        return 2;
    }
    char *tok = ag_auth_mint(cfg, sub, scope, ag_now_ms() / 1000, ttl_s);
    printf("%s\n", tok);
    free(tok);
    return 0;
}

static int cmd_migrate(const ag_config_t *cfg)
{
    ag_store_t *st;
    ag_err_t err;
    int applied = 0;
    int rc = ag_store_open(&st, cfg->database_url, &err);
    if (rc == 0) {
        rc = st->ops->migrate(st, &applied, &err);
        ag_store_close(st);
    }
    if (rc != 0) {
        fprintf(stderr, "agency migrate: %s\n", err.msg);
        return 1;
    }
    printf("migrations applied: %d\n", applied);
    return 0;
}

static int cmd_check(const ag_config_t *cfg, const char *path)
{
    ag_err_t err;
    int bad = ag_scripts_check(path ? path : cfg->domains, stdout, &err);
    if (bad < 0) {
        fprintf(stderr, "agency check: %s\n", err.msg);
        return 2;
    }
    return bad > 0 ? 1 : 0;
}

typedef struct run_out_s {
    int done, ok;
} run_out_t;

static void on_cli_run_end(ag_run_t *run, ag_run_end_t *end, void *data)
{
    (void)run;
    run_out_t *o = data;
    o->done = 1;
    o->ok = end->status == AG_RUN_OK;
    if (o->ok)
        printf("%s\n", end->result);
    else
        fprintf(stderr, "agency run: %s\n", end->error ? end->error : "failed");
}

static int cmd_run(const ag_config_t *cfg, const char *target, const char *input_path)
{
    const char *slash = target ? strchr(target, '/') : NULL;
    if (slash == NULL || slash == target || slash[1] == '\0' || input_path == NULL) {
        fprintf(stderr, "usage: agency run DOMAIN/AGENT --input FILE.json\n");
        return 2;
    }
    char *input = NULL;
    size_t len = 0;
    int rc;
    if (strcmp(input_path, "-") == 0)
        rc = ag_read_file("/dev/stdin", &input, &len);
    else
        rc = ag_read_file(input_path, &input, &len);
    if (rc != 0) {
        fprintf(stderr, "agency run: cannot read %s: %s\n", input_path, ag_strerror(rc));
        return 2;
    }
    char domain[256];
    snprintf(domain, sizeof(domain), "%.*s", (int)(slash - target), target);
    ag_err_t err;
    ag_scripts_t *scripts = NULL;
    ag_store_t *store = NULL;
    ag_rt_t *rt = NULL;
    ag_llm_shared_t *llm = NULL;
    ag_llm_loop_t *ll = NULL;
    uv_loop_t loop;
    uv_loop_init(&loop);
    run_out_t out = {0, 0};
    int status = 1;
    if ((rc = ag_scripts_new(&scripts, cfg->domains, &err)) != 0 || (rc = ag_store_open(&store, "sqlite::memory:", &err)) != 0 ||
        (rc = store->ops->migrate(store, NULL, &err)) != 0) {
        fprintf(stderr, "agency run: %s\n", err.msg);
        goto done;
    }
    llm = ag_llm_shared_new(&cfg->llm);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if ((rc = ag_llm_loop_new(&ll, &loop, llm, store, &err)) != 0) {
        fprintf(stderr, "agency run: %s\n", err.msg);
        goto done;
    }
    ag_rt_opts_t o = {.loop = &loop, .store = store, .scripts = scripts, .llm = ll, .cpu_budget = cfg->cpu_budget,
                      .memory_limit = cfg->memory_limit};
    if ((rc = ag_rt_new(&rt, &o, &err)) != 0) {
        fprintf(stderr, "agency run: %s\n", err.msg);
        goto done;
    }
    ag_run_spec_t spec = {.task_id = 0, .type = NULL, .domain = domain, .agent = slash + 1, .input = input,
                          .attempt = 1};
    /* The input must be JSON: decode errors surface as the run's error. */
    ag_run_t *run;
    ag_rt_start(rt, &spec, on_cli_run_end, &out, &run);
    while (!out.done && uv_run(&loop, UV_RUN_ONCE)) {
    }
    status = out.done && out.ok ? 0 : 1;
done:
    ag_rt_free(rt);
    ag_llm_loop_close(ll);
    uv_run(&loop, UV_RUN_DEFAULT); /* the HTTP client's handles close */
    ag_llm_shared_free(llm);
    ag_store_close(store);
    ag_scripts_free(scripts);
    free(input);
    return status;
}

int main(int argc, char **argv)
{
    const char *config_file = NULL;
    int i = 1;
    while (i < argc && strcmp(argv[i], "--config") == 0) {
        if (i + 1 >= argc) {
            fprintf(stderr, "agency: --config needs a file\n");
            return 2;
        }
        config_file = argv[i + 1];
        i += 2;
    }
    const char *cmd = i < argc ? argv[i] : "serve";
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("agency %s\n", AG_VERSION);
        return 0;
    }
    ag_config_t cfg;
    int rc = load_config(&cfg, config_file);
    if (rc != 0)
        return rc;
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(&cfg);
    if (strcmp(cmd, "migrate") == 0)
        return cmd_migrate(&cfg);
    if (strcmp(cmd, "demo") == 0)
        return ag_cmd_demo(&cfg, argc - i - 1, argv + i + 1);
    if (strcmp(cmd, "replay") == 0)
        return ag_cmd_replay(&cfg, argc - i - 1, argv + i + 1);
    if (strcmp(cmd, "test") == 0)
        return ag_cmd_test(&cfg, argc - i - 1, argv + i + 1);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(&cfg, i + 1 < argc ? argv[i + 1] : NULL);
    if (strcmp(cmd, "config") == 0) {
        ag_config_print(&cfg, stdout);
        return 0;
    }
    if (strcmp(cmd, "token") == 0)
        return cmd_token(&cfg, argc - i - 1, argv + i + 1);
    if (strcmp(cmd, "run") == 0) {
        const char *target = i + 1 < argc ? argv[i + 1] : NULL, *input = NULL;
        for (int k = i + 2; k + 1 < argc; k++)
            if (strcmp(argv[k], "--input") == 0)
                input = argv[k + 1];
        return cmd_run(&cfg, target, input);
    }
    fprintf(stderr, "agency: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}
