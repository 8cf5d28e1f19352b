-- Voice notes: the recording of an answer (or a note) that was spoken rather than typed. The
-- answer itself holds its label ("🎙 Voice note, 1 min 12 s"), so lists, search and /export
-- see it like words; the audio is sealed with the person's own data key, like their words, and
-- goes with its entry (Delete) or with them (/forget, crypto-shredding).
CREATE TABLE voice_notes (
    entry_id    INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    step        TEXT    NOT NULL,
    audio       BLOB    NOT NULL,
    duration    INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    mime        TEXT    NOT NULL,
    PRIMARY KEY (entry_id, step)
);

-- Tidy chat (opt-in in /settings): once a question set is saved, the bot deletes the person's
-- messages and its own questions for it from the Telegram chat, leaving one line. Who has it
-- on, and which messages of a set still in progress are to go (ids only, never words).
CREATE TABLE tidy_chat (
    person_id   INTEGER PRIMARY KEY REFERENCES people(id) ON DELETE CASCADE
);
CREATE TABLE tidy_messages (
    entry_id    INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    message_id  INTEGER NOT NULL,
    PRIMARY KEY (entry_id, message_id)
) WITHOUT ROWID;
