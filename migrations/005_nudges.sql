-- Supervision sessions and nudges. The database is the truth: the scheduler in bot/ is only an
-- alarm clock, re-armed from these rows at start-up and whenever they change.

-- A supervision session. `local_start` is the wall-clock time in the worker's time zone
-- ("2026-12-08T14:00"); `starts_at` is that moment in UTC, worked out again whenever the
-- worker's time zone changes, so a session follows the zone like every other schedule.
CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY,
    worker_id     INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    set_by        INTEGER NOT NULL,          -- the worker, or their linked supervisor
    local_start   TEXT    NOT NULL,
    starts_at     TEXT    NOT NULL,
    every         TEXT CHECK (every IN ('1w', '2w', '4w', '1m')),  -- NULL: just this once
    series_start  TEXT,                      -- the first local start of a repeating series
    state         TEXT    NOT NULL DEFAULT 'planned'
                  CHECK (state IN ('planned', 'held', 'cancelled')),
    created_at    TEXT    NOT NULL
);
CREATE INDEX sessions_by_worker ON sessions (worker_id, state, starts_at);
CREATE INDEX sessions_next ON sessions (starts_at) WHERE state = 'planned';

-- Each planned nudge is a row with an id and a state, sent at most once.
-- `key` names what it is for ("s:<session>:<minutes before>:<start>", "w:<local date>",
-- "r:<entry>", "z:<nudge>"), so planning again never makes a second one for the same thing.
-- pending → sent (moved into the outbox in the same transaction) | dropped | cancelled.
CREATE TABLE nudges (
    id            INTEGER PRIMARY KEY,
    person_id     INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL CHECK (kind IN ('session', 'snooze', 'reflect', 'weekly')),
    key           TEXT    NOT NULL,
    session_id    INTEGER REFERENCES sessions(id) ON DELETE CASCADE,
    entry_id      INTEGER REFERENCES entries(id) ON DELETE CASCADE,
    base_at       TEXT,                      -- reflect: when the check was saved
    due_at        TEXT    NOT NULL,          -- UTC
    useful_until  TEXT    NOT NULL,          -- UTC: after this it is dropped, not sent late
    state         TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'sent', 'dropped', 'cancelled')),
    reason        TEXT,                      -- why dropped or cancelled
    done_at       TEXT,
    UNIQUE (person_id, key)
);
CREATE INDEX nudges_due ON nudges (due_at) WHERE state = 'pending';
CREATE INDEX nudges_by_session ON nudges (session_id) WHERE session_id IS NOT NULL;

-- What each person chose. Minutes of 0 mean "off". Times are local "HH:MM".
CREATE TABLE reminder_settings (
    person_id      INTEGER PRIMARY KEY REFERENCES people(id) ON DELETE CASCADE,
    first_before   INTEGER NOT NULL DEFAULT 1440,  -- a day before
    second_before  INTEGER NOT NULL DEFAULT 60,    -- an hour before
    reflect_after  INTEGER NOT NULL DEFAULT 240,   -- after an in-the-moment check
    weekly_day     INTEGER,                        -- 0 Monday … 6 Sunday; NULL: off (opt-in)
    weekly_time    TEXT    NOT NULL DEFAULT '09:00',
    quiet_start    TEXT    NOT NULL DEFAULT '21:00',
    quiet_end      TEXT    NOT NULL DEFAULT '08:00',
    paused_until   TEXT                            -- UTC; NULL: not paused
);

-- A nudge waiting in the outbox is checked once more just before it goes.
ALTER TABLE outbox ADD COLUMN nudge_id INTEGER;
