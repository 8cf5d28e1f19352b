-- Supervisors: invites, links, consented summaries (an append-only share log), co-reflection.
-- The promise: a supervisor sees only what the worker chose to share, when they chose it, and
-- nothing after they withdraw it. flows/gate.py is the only way anything reaches another person.

-- A person's Telegram first name, encrypted with their data key: shown to people they link with.
ALTER TABLE people ADD COLUMN name BLOB;
-- When an entry was flagged "Bring to supervision", and the part of the supervision pack the
-- worker put it in (formative, normative, restorative; NULL means the question set's default).
ALTER TABLE entries ADD COLUMN flagged_at TEXT;
ALTER TABLE entries ADD COLUMN proctor TEXT;
-- A queued summary is dropped from the outbox if it is withdrawn before it could be sent.
ALTER TABLE outbox ADD COLUMN share_id INTEGER;

-- One-time invites. Only a hash of the code is kept: the code itself exists in the worker's chat.
CREATE TABLE invites (
    id             INTEGER PRIMARY KEY,
    worker_id      INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    code_hash      BLOB    NOT NULL UNIQUE,
    created_at     TEXT    NOT NULL,
    expires_at     TEXT    NOT NULL,
    supervisor_id  INTEGER REFERENCES people(id) ON DELETE CASCADE,  -- confirmed from their side
    claimed_at     TEXT,
    closed_at      TEXT                                              -- used, declined or replaced
);
CREATE INDEX invites_by_worker ON invites (worker_id) WHERE closed_at IS NULL;

-- Wrong codes, for the limit of five an hour; older rows are pruned.
CREATE TABLE link_attempts (
    person_id  INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    at         TEXT    NOT NULL
);
CREATE INDEX link_attempts_by_person ON link_attempts (person_id, at);

CREATE TABLE links (
    id             INTEGER PRIMARY KEY,
    worker_id      INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    supervisor_id  INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    created_at     TEXT    NOT NULL,
    ended_at       TEXT,
    ended_by       INTEGER
);
CREATE UNIQUE INDEX links_one_supervisor ON links (worker_id) WHERE ended_at IS NULL;
CREATE INDEX links_by_supervisor ON links (supervisor_id) WHERE ended_at IS NULL;

-- The share log: what was shared, with whom, when, and which answers (never their text).
-- Append-only: a withdrawal or an expiry is a row in share_events, never an edit here.
CREATE TABLE shares (
    id             INTEGER PRIMARY KEY,
    link_id        INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
    worker_id      INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    supervisor_id  INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    kind           TEXT    NOT NULL CHECK (kind IN ('entry', 'episode', 'pack')),
    subject        INTEGER,                  -- the entry or episode id; NULL for a pack
    answers        TEXT    NOT NULL,         -- JSON [[entry id, step], …] of the answers shared
    created_at     TEXT    NOT NULL,
    expires_at     TEXT                      -- NULL: until withdrawn
);
CREATE INDEX shares_by_worker ON shares (worker_id, created_at DESC);
CREATE INDEX shares_by_supervisor ON shares (supervisor_id, created_at DESC);
CREATE INDEX shares_expiring ON shares (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE share_events (
    share_id  INTEGER PRIMARY KEY REFERENCES shares(id) ON DELETE CASCADE,  -- a share ends once
    event     TEXT    NOT NULL CHECK (event IN ('withdrawn', 'expired')),
    at        TEXT    NOT NULL
);

CREATE TRIGGER shares_append_only BEFORE UPDATE ON shares
BEGIN
    SELECT RAISE(ABORT, 'the share log is append-only');
END;
CREATE TRIGGER share_events_append_only BEFORE UPDATE ON share_events
BEGIN
    SELECT RAISE(ABORT, 'the share log is append-only');
END;

-- The summary exactly as consented to, encrypted with the worker's data key. Deleted the moment
-- the share is withdrawn or expires: the log keeps that it happened, not what it said.
CREATE TABLE share_bodies (
    share_id  INTEGER PRIMARY KEY REFERENCES shares(id) ON DELETE CASCADE,
    body      BLOB    NOT NULL
);

-- Every copy of a summary Telegram accepted, so a withdrawal can delete it (within 48 hours).
CREATE TABLE share_messages (
    share_id    INTEGER NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
    chat_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    sent_at     TEXT    NOT NULL,
    PRIMARY KEY (share_id, chat_id, message_id)
) WITHOUT ROWID;

-- Co-reflection: both people answer the same prompts; both must agree before either sees both.
CREATE TABLE coreflections (
    id          INTEGER PRIMARY KEY,
    link_id     INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
    started_by  INTEGER NOT NULL,
    created_at  TEXT    NOT NULL,
    closed_at   TEXT,
    outcome     TEXT CHECK (outcome IN ('revealed', 'declined', 'withdrawn'))
);
CREATE UNIQUE INDEX coreflections_one_open ON coreflections (link_id) WHERE closed_at IS NULL;

CREATE TABLE coreflection_parts (
    round_id     INTEGER NOT NULL REFERENCES coreflections(id) ON DELETE CASCADE,
    person_id    INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    entry_id     INTEGER REFERENCES entries(id) ON DELETE SET NULL,
    finished_at  TEXT,
    reveal       INTEGER,                    -- NULL: not decided; 1: yes; 0: no
    PRIMARY KEY (round_id, person_id)
) WITHOUT ROWID;
CREATE INDEX coreflection_parts_by_entry ON coreflection_parts (entry_id);
