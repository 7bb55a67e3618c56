/*
 * events.h: the engine's event log as consumers see it (the SSE stream, outgoing webhooks): one JSON
 * shape per event and the filter syntax both use.
 *
 * Event types: task.<state> for a task entering <state> (task.pending, task.queued, task.running,
 * task.succeeded, task.failed, task.dead, task.cancelled), and engine events with a data object
 * (agent.created, agent.updated, agent.deleted, script.reloaded, ...).
 */
#ifndef AG_EVENTS_H
#define AG_EVENTS_H

#include "buf.h"
#include "store.h"

/* Appends the event as a JSON object:
 * {"id","type","domain","at","task_id","from","to","detail","data"} (absent parts are null). */
void ag_event_json(ag_buf_t *b, const ag_event_t *e);

/* 1 when type matches one of the comma-separated patterns ("task.*", "agent.created", "*"); an empty
 * or NULL pattern list matches everything. */
int ag_event_type_matches(const char *patterns, const char *type);

/* 0 when every comma-separated pattern is well formed (letters, digits, '_', '.', and '*' only as the
 * last character), else -1. */
int ag_event_patterns_check(const char *patterns);

/* Records an engine event (not a task transition) on store s; errors are logged, not returned. */
void ag_event_emit(ag_store_t *s, const char *type, const char *domain, const char *data_json);

/* After a rescan that published snap: records script.reloaded when no script of snap is in error, else
 * script.error; data {"generation","errors"} (errors: how many scripts have one). */
struct ag_snapshot_s;
void ag_event_emit_scripts(ag_store_t *s, const struct ag_snapshot_s *snap);

#endif
