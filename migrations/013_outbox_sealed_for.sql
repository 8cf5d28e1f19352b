-- A reply waiting in the outbox that carries a person's words (a summary on its way to their
-- supervisor, an entry shown back to them) is sealed with that person's own data key, so
-- /forget's key destruction reaches its copies in WAL remnants and backups too.
-- NULL: sealed with the master key (catalogue wording, or sent to someone not yet known).
ALTER TABLE outbox ADD COLUMN sealed_for INTEGER;
