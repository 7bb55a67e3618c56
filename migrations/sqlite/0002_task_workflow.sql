-- 0002_task_workflow: the workflow a task belongs to, and the indexes GET /api/v1/tasks filters by.
-- Every listing walks newest first (ORDER BY id DESC) and pages by id, so each index ends with id:
-- an equality filter then reads its rows already in order and stops after one page.

ALTER TABLE tasks ADD COLUMN workflow_id TEXT;

CREATE INDEX tasks_by_state ON tasks (state, id);
CREATE INDEX tasks_by_domain ON tasks (domain, id);
CREATE INDEX tasks_by_agent ON tasks (agent, id);
CREATE INDEX tasks_by_type ON tasks (type, id);
CREATE INDEX tasks_by_workflow ON tasks (workflow_id, id) WHERE workflow_id IS NOT NULL;
