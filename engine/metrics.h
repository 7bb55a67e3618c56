/*
 * metrics.h: counters and histograms for /metrics (Prometheus text format).
 *
 * A series is a metric with its label values, created on first use and never freed (label sets are
 * bounded: routes, statuses, domains, agents). Lookups take one mutex; the values are atomics, so
 * recording from any loop thread is lock-free once a caller holds the series pointer.
 */
#ifndef AG_METRICS_H
#define AG_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct ag_series_s ag_series_t;

typedef enum ag_metric_kind_e { AG_COUNTER, AG_GAUGE, AG_HISTOGRAM } ag_metric_kind_t;

/* Declares every metric the engine exports (idempotent); called at start. */
void ag_metrics_init(void);

/* Declares a metric once (idempotent): name, help text, kind. Histograms use the default latency
 * buckets (seconds): 0.0005 .. 30. */
void ag_metric_define(const char *name, const char *help, ag_metric_kind_t kind);

/* The series of metric name with labels, e.g. "domain=\"sales\",agent=\"qualifier\"" (pre-rendered,
 * values escaped by the caller with ag_metrics_label). Creates it on first use. */
ag_series_t *ag_series(const char *name, const char *labels);

void ag_series_add(ag_series_t *s, double v);     /* counters and gauges */
void ag_series_set(ag_series_t *s, double v);     /* gauges */
void ag_series_observe(ag_series_t *s, double v); /* histograms */

/* Appends label="value" (escaped) to b, with a leading comma unless b is empty. */
void ag_metrics_label(ag_buf_t *b, const char *label, const char *value);

/* Renders every metric in the text exposition format 0.0.4. */
void ag_metrics_render(ag_buf_t *out);

#endif
