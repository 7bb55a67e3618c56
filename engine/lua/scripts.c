/*
 * scripts.c: the shared script registry; see scripts.h.
 *
 * A rescan holds the registry's mutex, reads every script under the root, and validates what changed
 * in a loader runtime of its own (compile, run the module body under a load budget, check the shape,
 * cross-check task types against agents). Readers only take the mutex to grab a reference to the
 * current snapshot.
 */
#include "scripts.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "../log.h"
#include "runtime_int.h"

#define AG_LOG_MODULE "scripts"

struct ag_scripts_s {
    pthread_mutex_t mu;
    char *root;
    ag_snapshot_t *cur;
    atomic_uint_fast64_t generation;
    ag_rt_t *loader;
};

static const char *kinds[] = {"agents", "tasks", "tools", "handoffs", "templates", NULL};

int ag_script_name_valid(const char *s, size_t n)
{
    if (n == 0 || n > 100)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* ---- snapshots ---------------------------------------------------------------------------------------------- */

static void script_clear(ag_script_t *sc)
{
    free(sc->path);
    free(sc->domain);
    free(sc->kind);
    free(sc->name);
    free(sc->source);
    free(sc->error);
    free(sc->bad_hash);
}

static void script_copy(ag_script_t *dst, const ag_script_t *src)
{
    *dst = *src;
    dst->path = ag_xstrdup(src->path);
    dst->domain = ag_xstrdup(src->domain);
    dst->kind = ag_xstrdup(src->kind);
    dst->name = ag_xstrdup(src->name);
    dst->source = src->source ? ag_xstrndup(src->source, src->len) : NULL;
    dst->error = src->error ? ag_xstrdup(src->error) : NULL;
    dst->bad_hash = src->bad_hash ? ag_xstrdup(src->bad_hash) : NULL;
}

void ag_snapshot_release(ag_snapshot_t *snap)
{
    if (snap == NULL || atomic_fetch_sub(&snap->refs, 1) != 1)
        return;
    for (size_t i = 0; i < snap->n; i++)
        script_clear(&snap->items[i]);
    free(snap->items);
    free(snap);
}

const ag_script_t *ag_snapshot_find(const ag_snapshot_t *snap, const char *domain, const char *kind,
                                    const char *name)
{
    for (size_t i = 0; i < snap->n; i++) {
        const ag_script_t *sc = &snap->items[i];
        if (sc->source != NULL && strcmp(sc->name, name) == 0 && strcmp(sc->kind, kind) == 0 &&
            strcmp(sc->domain, domain) == 0)
            return sc;
    }
    return NULL;
}

void ag_snapshot_counts(const ag_snapshot_t *snap, size_t *good, size_t *bad)
{
    *good = *bad = 0;
    for (size_t i = 0; i < snap->n; i++) {
        if (snap->items[i].source)
            (*good)++;
        if (snap->items[i].error)
            (*bad)++;
    }
}

uint64_t ag_scripts_generation(ag_scripts_t *s)
{
    return atomic_load(&s->generation);
}

ag_snapshot_t *ag_scripts_acquire(ag_scripts_t *s)
{
    pthread_mutex_lock(&s->mu);
    ag_snapshot_t *snap = s->cur;
    atomic_fetch_add(&snap->refs, 1);
    pthread_mutex_unlock(&s->mu);
    return snap;
}

const char *ag_scripts_root(const ag_scripts_t *s)
{
    return s->root;
}

/* ---- scanning ----------------------------------------------------------------------------------------------- */

typedef struct file_list_s {
    ag_script_t *items;
    size_t n, cap;
} file_list_t;

static void add_file(file_list_t *fl, const char *path, const char *domain, const char *kind, const char *name,
                     size_t namelen)
{
    if (fl->n == fl->cap)
        fl->items = ag_xrealloc(fl->items, (fl->cap = fl->cap ? fl->cap * 2 : 32) * sizeof(ag_script_t));
    ag_script_t *sc = &fl->items[fl->n++];
    memset(sc, 0, sizeof(*sc));
    sc->path = ag_xstrdup(path);
    sc->domain = ag_xstrdup(domain);
    sc->kind = ag_xstrdup(kind);
    sc->name = ag_xstrndup(name, namelen);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_dirent(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* The length of file name f without its extension when f is a script of kind (".lua"; templates: ".txt" or
 * ".md"), or 0: tests (<name>_test.<ext>) are never scripts. */
static size_t script_stem(const char *kind, const char *f, size_t len)
{
    static const char *lua_ext[] = {".lua", NULL}, *template_ext[] = {".txt", ".md", NULL};
    for (const char **e = strcmp(kind, "templates") == 0 ? template_ext : lua_ext; *e; e++) {
        size_t el = strlen(*e);
        if (len > el && strcmp(f + len - el, *e) == 0 && ag_script_name_valid(f, len - el) &&
            !(len - el > 5 && memcmp(f + len - el - 5, "_test", 5) == 0))
            return len - el;
    }
    return 0;
}

static void scan_kind(file_list_t *fl, const char *root, const char *domain, const char *kind)
{
    char dir[2048];
    snprintf(dir, sizeof(dir), "%.1200s/%.200s/%.100s", root, domain, kind);
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, cmp_dirent);
    for (int i = 0; i < n; i++) {
        const char *f = ents[i]->d_name;
        size_t len = strlen(f);
        size_t stem = script_stem(kind, f, len);
        if (stem > 0) {
            char path[2400];
            snprintf(path, sizeof(path), "%s/%s", dir, f);
            add_file(fl, path, domain, kind, f, stem);
        }
        free(ents[i]);
    }
    if (n >= 0)
        free(ents);
}

static int scan(const char *root, file_list_t *fl, ag_err_t *err)
{
    struct dirent **ents;
    int n = scandir(root, &ents, NULL, cmp_dirent);
    if (n < 0)
        return ag_err_set(err, -errno, "cannot read the domains directory %s: %s", root, strerror(errno));
    for (int i = 0; i < n; i++) {
        const char *d = ents[i]->d_name;
        char dpath[2048];
        snprintf(dpath, sizeof(dpath), "%s/%s", root, d);
        if (d[0] != '.' && ag_script_name_valid(d, strlen(d)) && is_dir(dpath)) {
            char cpath[2100];
            snprintf(cpath, sizeof(cpath), "%s/config.lua", dpath);
            struct stat st;
            if (stat(cpath, &st) == 0)
                add_file(fl, cpath, d, "config", "config", 6);
            for (const char **k = kinds; *k; k++)
                scan_kind(fl, root, d, *k);
        }
        free(ents[i]);
    }
    free(ents);
    return 0;
}

static int error_line(const char *msg)
{
    const char *p = strstr(msg, ".lua:");
    return p ? atoi(p + 5) : 0;
}

/* Validates src as sc's kind in the loader; 0, or AG_ESCRIPT with err filled. */
static int validate(ag_rt_t *loader, const ag_script_t *sc, const char *src, size_t len, ag_err_t *err)
{
    if (strcmp(sc->kind, "templates") == 0)
        return 0; /* plain text (api_template.c), never compiled: always good */
    lua_State *L = ag_rt_lua(loader);
    int top = lua_gettop(L);
    int rc = ag_rt_load_module(loader, sc->path, src, len, err);
    if (rc == 0)
        rc = ag_rt_check_module(loader, sc->kind, -1, sc->path, src, err);
    lua_settop(L, top);
    return rc;
}

/* Reads the agent a task type module names (empty string when it cannot be read). */
static void task_agent(ag_rt_t *loader, const ag_script_t *sc, char *out, size_t outsz)
{
    lua_State *L = ag_rt_lua(loader);
    int top = lua_gettop(L);
    ag_err_t err;
    out[0] = '\0';
    if (ag_rt_load_module(loader, sc->path, sc->source, sc->len, &err) == 0 && lua_istable(L, -1)) {
        lua_getfield(L, -1, "agent");
        if (lua_type(L, -1) == LUA_TSTRING)
            snprintf(out, outsz, "%s", lua_tostring(L, -1));
    }
    lua_settop(L, top);
}

static int line_in(const char *src, const char *needle)
{
    const char *p = src ? strstr(src, needle) : NULL;
    int line = 1;
    for (const char *q = src; p && q < p; q++)
        line += *q == '\n';
    return line;
}

static void set_error(ag_script_t *sc, const char *msg)
{
    free(sc->error);
    sc->error = ag_xstrdup(msg);
    sc->error_line = error_line(msg);
}

static int str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* 1 when next is not the same set of scripts, versions and errors as prev. */
static int differs(const ag_snapshot_t *prev, const ag_snapshot_t *next)
{
    if (prev == NULL || prev->n != next->n)
        return 1;
    for (size_t i = 0; i < next->n; i++) {
        const ag_script_t *a = &prev->items[i], *b = &next->items[i];
        if (strcmp(a->path, b->path) != 0 || strcmp(a->hash, b->hash) != 0 || str_differs(a->error, b->error) ||
            (a->source == NULL) != (b->source == NULL))
            return 1;
    }
    return 0;
}

/* Builds the next snapshot from the tree and the previous one; *changed when anything differs. */
static int build(ag_scripts_t *s, const ag_snapshot_t *prev, ag_snapshot_t **out, int *changed, ag_err_t *err)
{
    file_list_t fl = {NULL, 0, 0};
    int rc = scan(s->root, &fl, err);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < fl.n; i++) {
        ag_script_t *sc = &fl.items[i];
        const ag_script_t *old = NULL;
        for (size_t j = 0; prev && j < prev->n; j++)
            if (strcmp(prev->items[j].path, sc->path) == 0)
                old = &prev->items[j];
        char *src;
        size_t len;
        int frc = ag_read_file(sc->path, &src, &len);
        if (frc != 0) {
            char msg[2400];
            snprintf(msg, sizeof(msg), "%s:0: cannot read: %s", sc->path, ag_strerror(frc));
            if (old && old->source) {
                sc->source = ag_xstrndup(old->source, old->len);
                sc->len = old->len;
                memcpy(sc->hash, old->hash, sizeof(sc->hash));
            }
            set_error(sc, msg);
            continue;
        }
        char hash[17];
        ag_hash_hex16(src, len, hash);
        if (old && old->source && strcmp(old->hash, hash) == 0) { /* unchanged and good */
            free(src);
            char *keep_path = sc->path;
            sc->path = NULL;
            script_clear(sc);
            script_copy(sc, old);
            free(sc->path);
            sc->path = keep_path;
            free(sc->error); /* cross-check errors are recomputed below */
            sc->error = NULL;
            free(sc->bad_hash);
            sc->bad_hash = NULL;
            continue;
        }
        if (old && old->bad_hash && strcmp(old->bad_hash, hash) == 0) { /* the same bad content again */
            free(src);
            char *keep_path = sc->path;
            sc->path = NULL;
            script_clear(sc);
            script_copy(sc, old);
            free(sc->path);
            sc->path = keep_path;
            continue;
        }
        ag_err_t verr;
        if (validate(s->loader, sc, src, len, &verr) == 0) {
            sc->source = src;
            sc->len = len;
            memcpy(sc->hash, hash, sizeof(hash));
            sc->loaded_at = ag_now_ms();
            if (prev != NULL)
                AG_LOG(AG_LOG_INFO, "script loaded path=%s version=%s", sc->path, hash);
        } else {
            free(src);
            if (old && old->source) {
                sc->source = ag_xstrndup(old->source, old->len);
                sc->len = old->len;
                memcpy(sc->hash, old->hash, sizeof(sc->hash));
                sc->loaded_at = old->loaded_at;
            }
            set_error(sc, verr.msg);
            sc->bad_hash = ag_xstrdup(hash);
            AG_LOG(AG_LOG_WARN, "script error path=%s kept=%s error=%s", sc->path, sc->source ? sc->hash : "none",
                   verr.msg);
        }
    }
    ag_snapshot_t *snap = ag_xcalloc(1, sizeof(*snap));
    atomic_init(&snap->refs, 1);
    snap->items = fl.items;
    snap->n = fl.n;
    /* Cross-check: every task type names an agent of its domain that loads. */
    for (size_t i = 0; i < snap->n; i++) {
        ag_script_t *sc = &snap->items[i];
        if (strcmp(sc->kind, "tasks") != 0 || sc->source == NULL || sc->error != NULL)
            continue;
        char agent[256];
        task_agent(s->loader, sc, agent, sizeof(agent));
        if (ag_snapshot_find(snap, sc->domain, "agents", agent) == NULL) {
            char msg[2600];
            snprintf(msg, sizeof(msg), "%s:%d: agent '%s' not found (expected %s/%s/agents/%s.lua)", sc->path,
                     line_in(sc->source, "agent"), agent, s->root, sc->domain, agent);
            set_error(sc, msg);
        }
    }
    *changed = differs(prev, snap);
    *out = snap;
    return 0;
}

int ag_scripts_new(ag_scripts_t **out, const char *root, ag_err_t *err)
{
    ag_scripts_t *s = ag_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->root = ag_xstrdup(root);
    size_t rl = strlen(s->root);
    while (rl > 1 && s->root[rl - 1] == '/')
        s->root[--rl] = '\0';
    ag_rt_opts_t o = {0};
    int rc = ag_rt_new(&s->loader, &o, err);
    if (rc != 0)
        goto fail;
    int changed;
    if ((rc = build(s, NULL, &s->cur, &changed, err)) != 0)
        goto fail;
    s->cur->generation = 1;
    atomic_init(&s->generation, 1);
    *out = s;
    return 0;
fail:
    ag_rt_free(s->loader);
    free(s->root);
    free(s);
    return rc;
}

void ag_scripts_free(ag_scripts_t *s)
{
    if (s == NULL)
        return;
    ag_snapshot_release(s->cur);
    ag_rt_free(s->loader);
    pthread_mutex_destroy(&s->mu);
    free(s->root);
    free(s);
}

int ag_scripts_rescan(ag_scripts_t *s, int *changed, ag_err_t *err)
{
    pthread_mutex_lock(&s->mu);
    ag_snapshot_t *next = NULL;
    int rc = build(s, s->cur, &next, changed, err);
    if (rc == 0 && *changed) {
        next->generation = s->cur->generation + 1;
        ag_snapshot_t *old = s->cur;
        s->cur = next;
        atomic_store(&s->generation, next->generation);
        ag_snapshot_release(old);
    } else if (rc == 0) {
        ag_snapshot_release(next);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Is dir one domain (a config.lua or a kind directory in it) rather than a tree of domains? */
static int is_domain_dir(const char *dir)
{
    char p[2100];
    struct stat st;
    snprintf(p, sizeof(p), "%s/config.lua", dir);
    if (stat(p, &st) == 0)
        return 1;
    for (const char **k = kinds; *k; k++) {
        snprintf(p, sizeof(p), "%s/%s", dir, *k);
        if (is_dir(p))
            return 1;
    }
    return 0;
}

int ag_scripts_check(const char *path, FILE *out, ag_err_t *err)
{
    if (is_dir(path)) {
        /* a tree of domains, or one domain (checked within its parent tree, so cross-checks still see the
         * other domains, and only its scripts are reported) */
        char root[1024], only[1024] = "";
        snprintf(root, sizeof(root), "%s", path);
        size_t rl = strlen(root);
        while (rl > 1 && root[rl - 1] == '/')
            root[--rl] = '\0';
        if (is_domain_dir(root)) {
            char *slash = strrchr(root, '/');
            snprintf(only, sizeof(only), "%s", slash ? slash + 1 : root);
            if (slash == root)
                root[1] = '\0';
            else if (slash)
                *slash = '\0';
            else
                snprintf(root, sizeof(root), ".");
        }
        ag_scripts_t *s;
        int rc = ag_scripts_new(&s, root, err);
        if (rc != 0)
            return rc;
        int bad = 0;
        size_t good = 0;
        for (size_t i = 0; i < s->cur->n; i++) {
            const ag_script_t *sc = &s->cur->items[i];
            if (only[0] && strcmp(sc->domain, only) != 0)
                continue;
            if (sc->error) {
                fprintf(out, "%s\n", sc->error);
                bad++;
            } else {
                good++;
            }
        }
        fprintf(out, "%zu scripts ok, %d with errors\n", good, bad);
        ag_scripts_free(s);
        return bad;
    }
    /* one file: its kind is the name of its directory */
    char *src;
    size_t len;
    int rc = ag_read_file(path, &src, &len);
    if (rc != 0)
        return ag_err_set(err, rc, "cannot read %s: %s", path, ag_strerror(rc));
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    const char *kind = "tools";
    if (slash) {
        *slash = '\0';
        const char *base = strrchr(dir, '/');
        base = base ? base + 1 : dir;
        for (const char **k = kinds; *k; k++)
            if (strcmp(base, *k) == 0)
                kind = *k;
    }
    const char *fname = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (strcmp(fname, "config.lua") == 0)
        kind = "config";
    ag_rt_t *loader;
    if ((rc = ag_rt_new(&loader, &(ag_rt_opts_t){0}, err)) != 0) {
        free(src);
        return rc;
    }
    ag_script_t sc = {.path = (char *)path, .kind = (char *)kind};
    ag_err_t verr;
    int bad = validate(loader, &sc, src, len, &verr) != 0;
    if (bad)
        fprintf(out, "%s\n", verr.msg);
    else
        fprintf(out, "%s: ok\n", path);
    ag_rt_free(loader);
    free(src);
    return bad;
}
