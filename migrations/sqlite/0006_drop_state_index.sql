-- 0006_drop_state_index: tasks_by_state (from 0002) changes on every state transition, which is two
-- index updates per task on the queue's hot path (measured: processing about 10-35% slower with it).
-- A task list filtered by status now walks the primary key newest-first and stops at the page size,
-- which is cheap for the states lists ask for most; the claim has tasks_ready.
DROP INDEX IF EXISTS tasks_by_state;
