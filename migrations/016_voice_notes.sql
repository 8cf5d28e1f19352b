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
