-- 0008_kv_ttl: shared memory with a time to live (memory.set/incr with {ttl = seconds}, engine/lua/api_memory.c).
-- expires_at is ms since the epoch, NULL = never. Reads treat an expired row as absent; writes purge expired
-- rows now and then, in bounded batches, through this partial index (rows without a ttl are not in it).

ALTER TABLE kv ADD COLUMN expires_at INTEGER;

CREATE INDEX kv_expires ON kv (expires_at) WHERE expires_at IS NOT NULL;
