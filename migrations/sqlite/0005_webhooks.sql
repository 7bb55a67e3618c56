-- 0005_webhooks: outgoing webhooks. A subscription names a URL, the event types it wants (a JSON array
-- of patterns such as "task.*") and the secret deliveries are signed with. The delivery thread
-- (engine/webhooks.c) scans the event log from each subscription's cursor (last_event_id) into
-- deliveries; one row per attempt: a failed attempt is followed by a new pending row for the next one.

CREATE TABLE webhook_subscriptions (
    id            INTEGER PRIMARY KEY,
    url           TEXT NOT NULL,
    events        TEXT NOT NULL,              -- JSON array of type patterns
    secret        TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1,
    last_event_id INTEGER NOT NULL DEFAULT 0, -- the cursor: events up to this id have been scanned
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    subscription_id INTEGER NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id        INTEGER NOT NULL,
    attempt         INTEGER NOT NULL,           -- 1-based
    status          TEXT NOT NULL,              -- pending | delivered | failed | dead
    http_status     INTEGER,
    error           TEXT,
    next_attempt_at INTEGER NOT NULL,           -- due time while pending (pushed ahead while in flight)
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER                     -- when the attempt finished (whatever its result)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_sub ON webhook_deliveries (subscription_id, id);
