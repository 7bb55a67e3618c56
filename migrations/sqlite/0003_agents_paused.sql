-- 0003_agents_paused: the claim skips tasks whose agent record is paused (a NOT EXISTS probe per
-- candidate task). This partial index holds the paused records only, so the probe is one lookup in a
-- (usually empty) index.

CREATE INDEX agents_paused ON agents (domain, script) WHERE status = 'paused';
