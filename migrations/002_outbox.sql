-- Replies are written in the same transaction as the answer they follow, then sent and removed.
-- A crash between saving an answer and sending the next question can no longer leave a person
-- without their next question: on restart, whatever is still here is sent.

CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL,
    payload     BLOB    NOT NULL,               -- encrypted with the master key
    created_at  TEXT    NOT NULL
);
