-- An update from someone CoReflect already knows is sealed with that person's own data key while
-- it waits, so /forget's key destruction reaches its copies in WAL remnants and backups too.
-- NULL: sealed with the master key (first contact, or no person in the update).
ALTER TABLE inbox ADD COLUMN sealed_for INTEGER;
