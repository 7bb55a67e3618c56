-- 0001_init: tasks with their transition log, agents, domain KV, script versions.
-- Shipped migrations are never edited; add a new numbered file instead.

CREATE TABLE agents (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    domain       TEXT NOT NULL,
    script       TEXT NOT NULL,
    capabilities TEXT NOT NULL DEFAULT '[]',
    tools        TEXT NOT NULL DEFAULT '[]',
    config       TEXT NOT NULL DEFAULT '{}',
    status       TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (domain, name)
);

CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY,
    type             TEXT NOT NULL,
    domain           TEXT NOT NULL,
    agent            TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'queued', 'running', 'succeeded', 'failed',
                                                   'dead', 'cancelled', 'waiting')),
    priority         INTEGER NOT NULL DEFAULT 0,
    input            TEXT NOT NULL DEFAULT '{}',
    result           TEXT,
    error            TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 3,
    idempotency_key  TEXT UNIQUE,
    script_version   TEXT,
    run_at           INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    lease_owner      TEXT,
    lease_until      INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);

-- The claim walks this index in order; without it a claim scans the table.
CREATE INDEX tasks_ready ON tasks (priority DESC, run_at, id) WHERE state IN ('queued', 'failed');
CREATE INDEX tasks_leases ON tasks (lease_until) WHERE state = 'running';
CREATE INDEX tasks_created ON tasks (created_at);

CREATE TABLE task_events (
    id         INTEGER PRIMARY KEY,
    task_id    INTEGER NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    at         INTEGER NOT NULL,
    detail     TEXT
);
CREATE INDEX task_events_task ON task_events (task_id, id);

-- Every transition is recorded by the store itself, so no code path can forget one.
CREATE TRIGGER tasks_on_insert AFTER INSERT ON tasks
BEGIN
    INSERT INTO task_events (task_id, from_state, to_state, at, detail)
    VALUES (new.id, NULL, new.state, new.created_at, NULL);
END;

CREATE TRIGGER tasks_on_transition AFTER UPDATE OF state ON tasks WHEN old.state IS NOT new.state
BEGIN
    INSERT INTO task_events (task_id, from_state, to_state, at, detail)
    VALUES (new.id, old.state, new.state, new.updated_at,
            CASE WHEN new.state IN ('failed', 'dead', 'cancelled') THEN new.error
                 WHEN new.state = 'running' THEN new.lease_owner END);
END;

CREATE TABLE kv (
    domain     TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (domain, key)
) WITHOUT ROWID;

CREATE TABLE script_versions (
    hash       TEXT PRIMARY KEY,
    path       TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
