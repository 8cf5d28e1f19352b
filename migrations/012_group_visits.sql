-- Groups the bot is in that nobody has registered (yet): when it was added, and when it last
-- answered a /teamgroup there it could not act on. Strangers cost nothing: at most one short
-- reply a group per ten minutes, no Bot API call to check them, and a group nobody registers
-- within an hour is left (flows/features/team/strays.py). Only the group's chat id is kept.
CREATE TABLE group_visits (
    chat_id     INTEGER PRIMARY KEY CHECK (chat_id < 0),
    added_at    TEXT NOT NULL,
    replied_at  TEXT
);
