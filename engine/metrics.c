/* metrics.c: see metrics.h. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "common.h"

#define NBOUNDS 14
static const double bounds[NBOUNDS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,    0.25,  0.5,    1,     2.5,   5,     30};

struct ag_series_s {
    struct ag_series_s *next;
    char *labels;
    _Atomic double value; /* counter / gauge; histogram sum */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t buckets[NBOUNDS];
};

typedef struct metric_s {
    struct metric_s *next;
    char *name, *help;
    ag_metric_kind_t kind;
    ag_series_t *series;
} metric_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static metric_t *metrics, **metrics_tail = &metrics;

static metric_t *find(const char *name)
{
    for (metric_t *m = metrics; m; m = m->next)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

void ag_metrics_init(void)
{
    ag_metric_define("agency_build_info", "Version of the running engine (value 1).", AG_GAUGE);
    ag_metric_define("agency_tasks_total", "Task attempts ended, by domain, agent and outcome.", AG_COUNTER);
    ag_metric_define("agency_task_duration_seconds", "Wall time of one task attempt, by domain and agent.",
                     AG_HISTOGRAM);
    ag_metric_define("agency_tasks", "Tasks in the store, by state (queue depth).", AG_GAUGE);
    ag_metric_define("agency_http_requests_total", "HTTP requests answered, by route, method and status.",
                     AG_COUNTER);
    ag_metric_define("agency_http_request_duration_seconds", "HTTP request latency, by route and method.",
                     AG_HISTOGRAM);
    ag_metric_define("agency_script_reloads_total", "Script rescans that published a new version.", AG_COUNTER);
    ag_metric_define("agency_script_errors", "Scripts whose newest version has an error.", AG_GAUGE);
    ag_metric_define("agency_scripts_loaded", "Scripts with a good version loaded.", AG_GAUGE);
    ag_series_set(ag_series("agency_build_info", "version=\"" AG_VERSION "\""), 1);
    ag_series("agency_script_reloads_total", ""); /* exported as 0 before the first reload */
}

void ag_metric_define(const char *name, const char *help, ag_metric_kind_t kind)
{
    pthread_mutex_lock(&mu);
    if (find(name) == NULL) {
        metric_t *m = ag_xcalloc(1, sizeof(*m));
        m->name = ag_xstrdup(name);
        m->help = ag_xstrdup(help);
        m->kind = kind;
        *metrics_tail = m;
        metrics_tail = &m->next;
    }
    pthread_mutex_unlock(&mu);
}

ag_series_t *ag_series(const char *name, const char *labels)
{
    pthread_mutex_lock(&mu);
    metric_t *m = find(name);
    AG_ASSERT(m != NULL);
    ag_series_t *s = m->series, **tail = &m->series;
    for (; s; tail = &s->next, s = s->next)
        if (strcmp(s->labels, labels) == 0)
            break;
    if (s == NULL) {
        s = ag_xcalloc(1, sizeof(*s));
        s->labels = ag_xstrdup(labels);
        *tail = s; /* appended: a render in progress on another thread sees a consistent list */
    }
    pthread_mutex_unlock(&mu);
    return s;
}

static void atomic_add_double(_Atomic double *a, double v)
{
    double old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, old + v, memory_order_relaxed, memory_order_relaxed)) {
    }
}

void ag_series_add(ag_series_t *s, double v)
{
    atomic_add_double(&s->value, v);
}

void ag_series_set(ag_series_t *s, double v)
{
    atomic_store_explicit(&s->value, v, memory_order_relaxed);
}

void ag_series_observe(ag_series_t *s, double v)
{
    atomic_add_double(&s->value, v);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    for (int i = 0; i < NBOUNDS; i++) {
        if (v <= bounds[i]) {
            atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
            break;
        }
    }
}

void ag_metrics_label(ag_buf_t *b, const char *label, const char *value)
{
    if (b->len > 0)
        ag_buf_putc(b, ',');
    ag_buf_puts(b, label);
    ag_buf_puts(b, "=\"");
    for (const char *p = value ? value : ""; *p; p++) {
        if (*p == '\\' || *p == '"')
            ag_buf_putc(b, '\\'), ag_buf_putc(b, *p);
        else if (*p == '\n')
            ag_buf_puts(b, "\\n");
        else
            ag_buf_putc(b, *p);
    }
    ag_buf_putc(b, '"');
}

static void put_value(ag_buf_t *out, double v)
{
    if (isinf(v))
        ag_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        ag_buf_printf(out, "%.0f", v);
    else
        ag_buf_printf(out, "%.9g", v);
}

static void put_series(ag_buf_t *out, const char *name, const char *suffix, const char *labels, const char *extra)
{
    ag_buf_puts(out, name);
    ag_buf_puts(out, suffix);
    if (labels[0] || extra) {
        ag_buf_putc(out, '{');
        ag_buf_puts(out, labels);
        if (extra) {
            if (labels[0])
                ag_buf_putc(out, ',');
            ag_buf_puts(out, extra);
        }
        ag_buf_putc(out, '}');
    }
    ag_buf_putc(out, ' ');
}

void ag_metrics_render(ag_buf_t *out)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&mu);
    for (metric_t *m = metrics; m; m = m->next) {
        ag_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, types[m->kind]);
        for (ag_series_t *s = m->series; s; s = s->next) {
            if (m->kind != AG_HISTOGRAM) {
                put_series(out, m->name, "", s->labels, NULL);
                put_value(out, atomic_load_explicit(&s->value, memory_order_relaxed));
                ag_buf_putc(out, '\n');
                continue;
            }
            uint64_t cum = 0;
            char le[32];
            for (int i = 0; i < NBOUNDS; i++) {
                cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
                snprintf(le, sizeof(le), "le=\"%g\"", bounds[i]);
                put_series(out, m->name, "_bucket", s->labels, le);
                ag_buf_printf(out, "%llu\n", (unsigned long long)cum);
            }
            uint64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
            put_series(out, m->name, "_bucket", s->labels, "le=\"+Inf\"");
            ag_buf_printf(out, "%llu\n", (unsigned long long)(count > cum ? count : cum));
            put_series(out, m->name, "_sum", s->labels, NULL);
            put_value(out, atomic_load_explicit(&s->value, memory_order_relaxed));
            ag_buf_putc(out, '\n');
            put_series(out, m->name, "_count", s->labels, NULL);
            ag_buf_printf(out, "%llu\n", (unsigned long long)(count > cum ? count : cum));
        }
    }
    pthread_mutex_unlock(&mu);
}
