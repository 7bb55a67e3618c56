-- 0007_llm_calls: the LLM call journal (engine/llm, DESIGN §6). One row per call a task's script makes,
-- successful or not: what was asked (provider, model, a hash of the normalized request), what came back
-- (the normalized response JSON, NULL when the call failed), its tokens, cost and latency. A task that
-- runs again (retry, crash recovery) is answered from here when its call with the same seq has the same
-- request hash. Rows are only appended. No foreign key to tasks: tasks are never deleted, and inserts
-- stay cheap.

CREATE TABLE llm_calls (
    id                INTEGER PRIMARY KEY,
    task_id           INTEGER NOT NULL,
    attempt           INTEGER NOT NULL,           -- the task's attempt (1-based) the call was made in
    seq               INTEGER NOT NULL,           -- the call's number within that run (1-based)
    domain            TEXT NOT NULL,
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,
    request_hash      TEXT NOT NULL,              -- 16 hex digits
    response          TEXT,                       -- normalized response JSON; NULL when the call failed
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost              REAL NOT NULL DEFAULT 0,
    latency_ms        INTEGER NOT NULL DEFAULT 0,
    error_code        TEXT,                       -- timeout, rate_limited, ...; NULL on success
    error             TEXT,
    created_at        INTEGER NOT NULL            -- ms since the epoch
);
-- A task's calls in (attempt, seq, id) order (the rowid ends every index): listing, and spend per task.
CREATE INDEX llm_calls_task ON llm_calls (task_id, attempt, seq);
-- Replay: the newest call of a task with this seq and request hash.
CREATE INDEX llm_calls_lookup ON llm_calls (task_id, seq, request_hash);
-- Spend per domain since a time; covering (cost), so the sum reads the index only.
CREATE INDEX llm_calls_domain ON llm_calls (domain, created_at, cost);
