-- Running CoReflect for an organisation (issue 23): readiness, the audit trail, who may use it,
-- administrators' marks (approved supervisors, leavers), retention notices and the daily runs.

-- /readyz writes here to prove the database takes a write.
CREATE TABLE health_probe (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    at  TEXT NOT NULL
);

-- Who did what, never any content. Person ids are keyed hashes (HMAC with a key derived from
-- the master key): an administrator with the key can find one person's rows, nobody else can.
CREATE TABLE audit (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    action   TEXT NOT NULL,
    actor    TEXT,              -- hashed id of who did it (NULL: the service itself)
    subject  TEXT,              -- hashed id of whom it concerns, when someone else
    detail   TEXT NOT NULL DEFAULT ''   -- a kind or a count, never words anyone wrote
);
CREATE INDEX audit_at ON audit (at);

-- Append-only: no row is ever changed, and none goes before it is 30 days old (the pruning of
-- rows past COREFLECT_AUDIT_DAYS, which may not be set lower, is the only delete).
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
CREATE TRIGGER audit_no_early_delete BEFORE DELETE ON audit
WHEN julianday(old.at) > julianday('now', '-30 days')
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;

-- Join codes (COREFLECT_ACCESS=invite): only the hash is kept, like link invite codes.
CREATE TABLE join_codes (
    id          INTEGER PRIMARY KEY,
    code_hash   BLOB NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    uses        INTEGER NOT NULL,          -- how many people it may admit
    used        INTEGER NOT NULL DEFAULT 0,
    revoked_at  TEXT
);

-- Someone without a way in: a keyed hash of their id and how often they tried, to refuse
-- repeated tries. Nothing else about them; pruned a day after their last try.
CREATE TABLE access_refusals (
    who      TEXT PRIMARY KEY,
    tries    INTEGER NOT NULL,
    last_at  TEXT NOT NULL
);

-- What an administrator has marked about a person.
CREATE TABLE org_people (
    person_id       INTEGER PRIMARY KEY REFERENCES people(id) ON DELETE CASCADE,
    supervisor_at   TEXT,              -- approved as a supervisor (COREFLECT_SUPERVISORS=approved)
    left_at         TEXT,              -- marked as having left
    leaver_warned   INTEGER NOT NULL DEFAULT 0   -- the week-before reminder went
);

-- Retention (COREFLECT_RETENTION_DAYS): the notice a person was sent, and what it covered.
CREATE TABLE retention_notices (
    person_id   INTEGER PRIMARY KEY REFERENCES people(id) ON DELETE CASCADE,
    noticed_at  TEXT NOT NULL,
    upto        TEXT NOT NULL      -- entries written before this were announced
);

-- Daily jobs: when each last ran, so a restart neither skips nor repeats a day.
CREATE TABLE daily_runs (
    name     TEXT PRIMARY KEY,
    last_at  TEXT NOT NULL
);
