-- 0004_event_log: one persisted, ordered log of everything that happens, for the event stream
-- (GET /api/v1/events, resumable by id) and outgoing webhooks. Task transitions move here from
-- task_events (copied with their ids, so ids stay increasing), still written by triggers; other
-- events (agents, scripts, ...) are inserted by the engine with a JSON payload in `data`.

CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    type       TEXT NOT NULL,        -- task.<state> for a transition into <state>; agent.created, ...
    domain     TEXT,
    task_id    INTEGER,
    from_state TEXT,
    to_state   TEXT,
    detail     TEXT,
    data       TEXT,                 -- JSON object, for events that are not task transitions
    at         INTEGER NOT NULL
);
CREATE INDEX events_task ON events (task_id, id) WHERE task_id IS NOT NULL;

INSERT INTO events (id, type, domain, task_id, from_state, to_state, detail, at)
SELECT e.id, 'task.' || e.to_state, t.domain, e.task_id, e.from_state, e.to_state, e.detail, e.at
FROM task_events e LEFT JOIN tasks t ON t.id = e.task_id
ORDER BY e.id;

DROP TRIGGER tasks_on_insert;
DROP TRIGGER tasks_on_transition;
DROP TABLE task_events;

CREATE TRIGGER tasks_on_insert AFTER INSERT ON tasks
BEGIN
    INSERT INTO events (type, domain, task_id, from_state, to_state, at)
    VALUES ('task.' || new.state, new.domain, new.id, NULL, new.state, new.created_at);
END;

CREATE TRIGGER tasks_on_transition AFTER UPDATE OF state ON tasks WHEN old.state IS NOT new.state
BEGIN
    INSERT INTO events (type, domain, task_id, from_state, to_state, detail, at)
    VALUES ('task.' || new.state, new.domain, new.id, old.state, new.state,
            CASE WHEN new.state IN ('failed', 'dead', 'cancelled') THEN new.error
                 WHEN new.state = 'running' THEN new.lease_owner END,
            new.updated_at);
END;
