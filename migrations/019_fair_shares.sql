-- Strangers cost nothing (issue 21): whether the bot was added to a group by someone this
-- deployment does not know (nobody with a row in people). In such a group a /teamgroup, from
-- anyone, is answered at most once per ten minutes and Telegram is never asked about anybody;
-- a supervisor who wants the group removes the bot and adds it again themselves. Only a yes/no
-- is kept, never who added it.
ALTER TABLE group_visits ADD COLUMN stranger INTEGER NOT NULL DEFAULT 0 CHECK (stranger IN (0, 1));
