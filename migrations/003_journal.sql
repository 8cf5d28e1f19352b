-- Journal and data rights: flags, search, the messages answers came from, care for the writer.

ALTER TABLE entries ADD COLUMN flagged INTEGER NOT NULL DEFAULT 0;          -- bring to supervision
ALTER TABLE entries ADD COLUMN support_offered INTEGER NOT NULL DEFAULT 0;  -- /support offered once
-- Everything searchable in the entry (answers, labels, tags) in lower case, encrypted with the
-- person's data key: search decrypts and matches per person, so nothing is indexed in the clear.
ALTER TABLE entries ADD COLUMN search_text BLOB;

-- Which Telegram message each typed answer came from, so editing the message updates the answer.
CREATE TABLE answer_messages (
    person_id   INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    message_id  INTEGER NOT NULL,
    entry_id    INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    step        TEXT    NOT NULL,
    PRIMARY KEY (person_id, message_id)
) WITHOUT ROWID;
CREATE INDEX answer_messages_by_entry ON answer_messages (entry_id);

-- Newest-first browsing and search walk this index in order instead of sorting every entry.
CREATE INDEX entries_newest_first ON entries (person_id, created_at DESC, id DESC);
