-- A supervisor with several supervisees, and supervision that carries forward (issue 20); the
-- other person's hours (issue 18).

-- The other person's hours: a message to someone else (a summary, a session notice, an
-- invitation) waits until the end of that person's quiet hours. NULL: send as soon as possible.
-- Only flows/store (Store.outbox_pending, `SENDABLE`) reads it.
ALTER TABLE outbox ADD COLUMN not_before TEXT;
CREATE INDEX outbox_waiting ON outbox (not_before) WHERE not_before IS NOT NULL;

-- A supervisor opened a summary: it is no longer marked new in their lists.
CREATE TABLE share_seen (
    share_id  INTEGER PRIMARY KEY REFERENCES shares(id) ON DELETE CASCADE,
    at        TEXT    NOT NULL
);

-- The supervisor's answer under a summary ("Thanks, I've read it", or "Let's talk about it on
-- <date>"): our own wording only, never anything they typed. The worker sees it in /shared.
CREATE TABLE share_acks (
    share_id  INTEGER PRIMARY KEY REFERENCES shares(id) ON DELETE CASCADE,
    kind      TEXT    NOT NULL CHECK (kind IN ('read', 'talk')),
    talk_at   TEXT,                             -- the session named, for 'talk' (UTC)
    at        TEXT    NOT NULL
);

-- Agreed next steps: written by either person over a link, agreed once the other confirms. The
-- words are encrypted with the worker's data key (they are part of the worker's record).
CREATE TABLE agreed_steps (
    id           INTEGER PRIMARY KEY,
    link_id      INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
    worker_id    INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    proposed_by  INTEGER NOT NULL,
    body         BLOB    NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'proposed'
                 CHECK (state IN ('proposed', 'agreed', 'not_quite', 'done')),
    created_at   TEXT    NOT NULL,
    agreed_at    TEXT,
    done_at      TEXT
);
CREATE INDEX agreed_steps_by_link ON agreed_steps (link_id, state);

-- The supervisor's weekly digest (opt-in): day 0 Monday … 6 Sunday, local "HH:MM".
ALTER TABLE reminder_settings ADD COLUMN digest_day INTEGER;
ALTER TABLE reminder_settings ADD COLUMN digest_time TEXT NOT NULL DEFAULT '09:00';

-- A /summaries list names each summary by its first words: the list message is a copy of every
-- summary it names (recorded in share_messages once sent), so withdrawing any one of them deletes
-- it too. This row only carries which summaries a waiting list names, until it is sent.
CREATE TABLE share_lists (
    id             INTEGER PRIMARY KEY,
    supervisor_id  INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    share_ids      TEXT    NOT NULL,            -- JSON [share id, …]
    created_at     TEXT    NOT NULL
);

-- Two new kinds of nudge: "What did you agree?" after a session, and the supervisor's weekly
-- digest. SQLite cannot change a CHECK in place: the table is rebuilt, rows and indexes as were.
CREATE TABLE nudges_new (
    id            INTEGER PRIMARY KEY,
    person_id     INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL
                  CHECK (kind IN ('session', 'snooze', 'reflect', 'weekly', 'agree', 'digest')),
    key           TEXT    NOT NULL,
    session_id    INTEGER REFERENCES sessions(id) ON DELETE CASCADE,
    entry_id      INTEGER REFERENCES entries(id) ON DELETE CASCADE,
    base_at       TEXT,
    due_at        TEXT    NOT NULL,
    useful_until  TEXT    NOT NULL,
    state         TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'sent', 'dropped', 'cancelled')),
    reason        TEXT,
    done_at       TEXT,
    UNIQUE (person_id, key)
);
INSERT INTO nudges_new SELECT id, person_id, kind, key, session_id, entry_id, base_at, due_at,
    useful_until, state, reason, done_at FROM nudges;
DROP TABLE nudges;
ALTER TABLE nudges_new RENAME TO nudges;
CREATE INDEX nudges_due ON nudges (due_at) WHERE state = 'pending';
CREATE INDEX nudges_by_session ON nudges (session_id) WHERE session_id IS NOT NULL;

-- A private note of a session, for the person alone: a journal entry linked to the session.
CREATE TABLE session_notes (
    entry_id    INTEGER PRIMARY KEY REFERENCES entries(id) ON DELETE CASCADE,
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE
);
