-- A message waiting in the outbox names the feature that vouches for it generically, as a guard
-- (kind, id), instead of one column per kind. Rows already waiting keep working: their share and
-- nudge ids are carried over (team posts were only ever named inside the payload, which is read
-- as before).
ALTER TABLE outbox ADD COLUMN guard_kind TEXT;
ALTER TABLE outbox ADD COLUMN guard_id INTEGER;
UPDATE outbox SET guard_kind = 'share', guard_id = share_id WHERE share_id IS NOT NULL;
UPDATE outbox SET guard_kind = 'nudge', guard_id = nudge_id WHERE nudge_id IS NOT NULL;
ALTER TABLE outbox DROP COLUMN share_id;
ALTER TABLE outbox DROP COLUMN nudge_id;
CREATE INDEX outbox_guard ON outbox (guard_kind, guard_id) WHERE guard_kind IS NOT NULL;
