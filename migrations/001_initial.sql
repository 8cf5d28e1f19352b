-- CoReflect: people, their conversation state, journal entries and answers, and the inbox.
-- Everything a person writes is stored encrypted with their own data key (see flows/crypto.py).

CREATE TABLE people (
    id           INTEGER PRIMARY KEY,           -- Telegram user id (the console uses 1)
    wrapped_key  BLOB    NOT NULL,              -- the person's data key, sealed by the master key
    timezone     TEXT    NOT NULL DEFAULT 'Europe/London',
    welcomed     INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT    NOT NULL
);

-- Where each person is: which question set, which step, and any question the bot is waiting on.
CREATE TABLE conversations (
    person_id   INTEGER PRIMARY KEY REFERENCES people(id) ON DELETE CASCADE,
    flow        TEXT,
    step        TEXT,
    entry_id    INTEGER REFERENCES entries(id) ON DELETE SET NULL,
    turn        INTEGER NOT NULL DEFAULT 0,     -- bumps with every question shown; stale buttons carry an old one
    history     TEXT    NOT NULL DEFAULT '[]',  -- JSON list of earlier steps, for /back
    pending     TEXT,                           -- JSON: a confirmation the bot is waiting for
    updated_at  TEXT    NOT NULL
);

CREATE TABLE entries (
    id          INTEGER PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    flow        TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('in_progress', 'saved', 'draft')),
    episode_id  INTEGER NOT NULL,               -- the first entry of the sharing episode
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
CREATE INDEX entries_by_person ON entries (person_id, status, created_at DESC);

CREATE TABLE answers (
    entry_id     INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    step         TEXT    NOT NULL,
    value        BLOB    NOT NULL,              -- encrypted with the person's data key
    answered_at  TEXT    NOT NULL,
    PRIMARY KEY (entry_id, step)
) WITHOUT ROWID;

-- Updates from Telegram, stored before their offset is confirmed; the payload is cleared once handled.
CREATE TABLE inbox (
    update_id    INTEGER PRIMARY KEY,
    payload      BLOB,                          -- encrypted with the master key; NULL once handled
    received_at  TEXT    NOT NULL,
    handled_at   TEXT
);
CREATE INDEX inbox_unhandled ON inbox (update_id) WHERE handled_at IS NULL;

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  BLOB NOT NULL
);
