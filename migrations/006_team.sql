-- Team learning: a supervisor registers a team group; learning reaches it only as a post the
-- worker consented to, word for word. flows/gate.py is still the only way into any chat.

-- A group a supervisor registered with /teamgroup. Group chat ids are negative. The title is
-- encrypted with the supervisor's data key. A registration ends (unregistered from /teams, or
-- the bot left or was removed) and is never reused; a supergroup migration moves its chat id.
CREATE TABLE team_groups (
    id             INTEGER PRIMARY KEY,
    chat_id        INTEGER NOT NULL CHECK (chat_id < 0),
    supervisor_id  INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    title          BLOB,
    created_at     TEXT    NOT NULL,
    ended_at       TEXT,
    ended_why      TEXT CHECK (ended_why IN ('unregistered', 'removed'))
);
CREATE UNIQUE INDEX team_groups_live ON team_groups (chat_id, supervisor_id) WHERE ended_at IS NULL;
CREATE INDEX team_groups_by_supervisor ON team_groups (supervisor_id) WHERE ended_at IS NULL;

-- A proposal to post learning in a group: what (the summary it came from), where, who proposed,
-- between which worker and supervisor. Never the text: that is in team_post_bodies, encrypted.
-- Append-only: everything that happens to it afterwards is a row in team_post_events.
CREATE TABLE team_posts (
    id             INTEGER PRIMARY KEY,
    group_id       INTEGER NOT NULL REFERENCES team_groups(id) ON DELETE CASCADE,
    link_id        INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
    worker_id      INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    supervisor_id  INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    proposed_by    INTEGER NOT NULL,
    share_id       INTEGER,                  -- the summary it came from, if any
    entry_id       INTEGER,                  -- or the reflection the worker started it from
    created_at     TEXT    NOT NULL
);
CREATE INDEX team_posts_by_worker ON team_posts (worker_id, created_at DESC);

-- What happened to a proposal, in order: sent to the worker, edited (a new version of the
-- text), consented (anonymous or named: for the text of that version), declined, posted,
-- not posted (refused at the last check), withdrawn.
CREATE TABLE team_post_events (
    post_id  INTEGER NOT NULL REFERENCES team_posts(id) ON DELETE CASCADE,
    seq      INTEGER NOT NULL,
    event    TEXT    NOT NULL CHECK (event IN ('asked', 'edited', 'consented', 'declined',
                                               'posted', 'not_posted', 'withdrawn')),
    mode     TEXT CHECK (mode IN ('anonymous', 'named')),
    at       TEXT    NOT NULL,
    PRIMARY KEY (post_id, seq)
) WITHOUT ROWID;

CREATE TRIGGER team_posts_append_only BEFORE UPDATE ON team_posts
BEGIN
    SELECT RAISE(ABORT, 'the team post log is append-only');
END;
CREATE TRIGGER team_post_events_append_only BEFORE UPDATE ON team_post_events
BEGIN
    SELECT RAISE(ABORT, 'the team post log is append-only');
END;

-- The words, encrypted with the worker's data key: the draft (the framing line and the
-- learning, as last edited) and, once the worker says yes, the exact post they said yes to.
-- Deleted when the proposal is declined or the post withdrawn.
CREATE TABLE team_post_bodies (
    post_id    INTEGER PRIMARY KEY REFERENCES team_posts(id) ON DELETE CASCADE,
    draft      BLOB    NOT NULL,
    consented  BLOB
);

-- The copy of a post Telegram accepted, so a withdrawal can delete it (within 48 hours).
CREATE TABLE team_post_messages (
    post_id     INTEGER NOT NULL REFERENCES team_posts(id) ON DELETE CASCADE,
    chat_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    sent_at     TEXT    NOT NULL,
    PRIMARY KEY (post_id, chat_id, message_id)
) WITHOUT ROWID;
