/* store.c: backend selection and the helpers shared by every backend; see store.h. */
#include "store.h"

#include <string.h>

static const char *state_names[AG_TASK__NSTATES] = {"pending", "queued",    "running",   "succeeded",
                                                    "failed",  "dead",      "cancelled", "waiting"};

const char *ag_task_state_name(ag_task_state_t s)
{
    return (unsigned)s < AG_TASK__NSTATES ? state_names[s] : "unknown";
}

int ag_task_state_parse(const char *name)
{
    for (int i = 0; i < AG_TASK__NSTATES; i++)
        if (strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}

int ag_task_state_terminal(ag_task_state_t s)
{
    return s == AG_TASK_SUCCEEDED || s == AG_TASK_DEAD || s == AG_TASK_CANCELLED;
}

void ag_task_clear(ag_task_t *t)
{
    free(t->type);
    free(t->domain);
    free(t->agent);
    free(t->input);
    free(t->result);
    free(t->error);
    free(t->idempotency_key);
    free(t->script_version);
    free(t->workflow_id);
    memset(t, 0, sizeof(*t));
}

void ag_claims_free(ag_claim_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].type);
        free(c[i].domain);
        free(c[i].agent);
        free(c[i].input);
    }
    free(c);
}

void ag_events_free(ag_event_t *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].type);
        free(e[i].domain);
        free(e[i].from);
        free(e[i].to);
        free(e[i].detail);
        free(e[i].data);
    }
    free(e);
}

void ag_task_events_free(ag_task_event_t *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].from);
        free(e[i].to);
        free(e[i].detail);
    }
    free(e);
}

void ag_agent_clear(ag_agent_t *a)
{
    free(a->name);
    free(a->domain);
    free(a->script);
    free(a->capabilities);
    free(a->tools);
    free(a->config);
    free(a->status);
    memset(a, 0, sizeof(*a));
}

void ag_agents_free(ag_agent_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ag_agent_clear(&a[i]);
    free(a);
}

void ag_agent_stats_clear(ag_agent_stats_t *st)
{
    free(st->last_error);
    memset(st, 0, sizeof(*st));
}

void ag_webhook_sub_clear(ag_webhook_sub_t *w)
{
    free(w->url);
    free(w->events);
    free(w->secret);
    memset(w, 0, sizeof(*w));
}

void ag_webhook_subs_free(ag_webhook_sub_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ag_webhook_sub_clear(&w[i]);
    free(w);
}

void ag_webhook_deliveries_free(ag_webhook_delivery_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].status);
        free(d[i].error);
    }
    free(d);
}

void ag_webhook_job_clear(ag_webhook_job_t *j)
{
    free(j->url);
    free(j->secret);
    free(j->event.type);
    free(j->event.domain);
    free(j->event.from);
    free(j->event.to);
    free(j->event.detail);
    free(j->event.data);
    memset(j, 0, sizeof(*j));
}

void ag_llm_calls_free(ag_llm_call_t *calls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(calls[i].domain);
        free(calls[i].provider);
        free(calls[i].model);
        free(calls[i].response);
        free(calls[i].error_code);
        free(calls[i].error);
    }
    free(calls);
}

int ag_store_open(ag_store_t **out, const char *url, ag_err_t *err)
{
    if (strncmp(url, "sqlite:", 7) == 0)
        return ag_store_sqlite_open(out, url + 7, err);
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return ag_err_set(err, AG_ECONFIG, "AGENCY_DATABASE_URL: the PostgreSQL backend is not built yet; "
                                           "use sqlite:PATH");
    return ag_err_set(err, AG_ECONFIG, "AGENCY_DATABASE_URL: unknown scheme (expected sqlite:PATH)");
}

void ag_store_close(ag_store_t *s)
{
    if (s != NULL)
        s->ops->close(s);
}

void ag_workflow_clear(ag_workflow_t *w)
{
    free(w->start_type);
    free(w->start_domain);
    free(w->status);
    free(w->input);
    memset(w, 0, sizeof(*w));
}

void ag_handoffs_free(ag_handoff_t *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].from_domain);
        free(h[i].to_domain);
        free(h[i].to_type);
        free(h[i].workflow_id);
        free(h[i].status);
        free(h[i].reasons);
        free(h[i].package);
    }
    free(h);
}

void ag_approval_clear(ag_approval_t *a)
{
    free(a->reason);
    free(a->data);
    free(a->status);
    free(a->comment);
    free(a->decided_by);
    memset(a, 0, sizeof(*a));
}
