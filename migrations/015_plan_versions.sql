-- Plans (issue 24): the Wellness at Work plan, the development plan and the biography are each
-- one living document. Every finished change is a new entry in the plan's episode; the one it
-- replaces is kept, marked superseded (when), out of /entries, search, the pack and the share
-- lists, but in /export, erased by /forget like any entry, and there to look back through.
ALTER TABLE entries ADD COLUMN superseded_at TEXT;

-- A gentle invitation to look a plan over (default every 3 months; 0: off), as a new kind of
-- nudge. SQLite cannot change a CHECK in place: the table is rebuilt, rows and indexes as were.
ALTER TABLE reminder_settings ADD COLUMN plan_review_months INTEGER NOT NULL DEFAULT 3;

CREATE TABLE nudges_new (
    id            INTEGER PRIMARY KEY,
    person_id     INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL
                  CHECK (kind IN ('session', 'snooze', 'reflect', 'weekly', 'agree', 'digest',
                                  'plan')),
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
