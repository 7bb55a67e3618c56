-- 0009_workflows: workflows (one item followed across domains), handoffs between domains, and human
-- approvals of waiting tasks.
CREATE TABLE workflows (
    id          INTEGER PRIMARY KEY,
    start_type  TEXT NOT NULL,                  -- the task type it started with, e.g. offer.package_service
    start_domain TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'running', -- running, completed, failed, cancelled
    input       TEXT NOT NULL,                  -- JSON
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX workflows_by_status ON workflows (status, id);

CREATE TABLE handoffs (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,               -- domains/<from_domain>/handoffs/<name>.lua
    from_domain    TEXT NOT NULL,
    to_domain      TEXT NOT NULL,
    to_type        TEXT NOT NULL,
    source_task_id INTEGER NOT NULL,
    target_task_id INTEGER,                     -- NULL when rejected
    workflow_id    TEXT,
    status         TEXT NOT NULL,               -- accepted, rejected
    reasons        TEXT,                        -- JSON array of strings (rejected)
    package        TEXT,                        -- JSON: the target task's input (accepted)
    created_at     INTEGER NOT NULL,
    UNIQUE (source_task_id, name)               -- never two handoffs of one kind from one task
);
CREATE INDEX handoffs_by_workflow ON handoffs (workflow_id, id) WHERE workflow_id IS NOT NULL;
CREATE INDEX handoffs_by_target ON handoffs (target_task_id) WHERE target_task_id IS NOT NULL;

CREATE TABLE approvals (
    task_id      INTEGER NOT NULL,
    seq          INTEGER NOT NULL,              -- the n-th task.approve{} of the task's run
    reason       TEXT NOT NULL,
    data         TEXT,                          -- JSON
    status       TEXT NOT NULL DEFAULT 'pending', -- pending, approved, rejected
    comment      TEXT,
    decided_by   TEXT,
    requested_at INTEGER NOT NULL,
    decided_at   INTEGER,
    PRIMARY KEY (task_id, seq)
) WITHOUT ROWID;
