-- Strangers cost nothing (issue 21): whether the bot was added to a group by someone this
-- deployment does not know (nobody with a row in people). In such a group a /teamgroup, from
-- anyone, is answered at most once per ten minutes and Telegram is never asked about anybody;
-- a supervisor who wants the group removes the bot and adds it again themselves. Only a yes/no
-- is kept, never who added it.
ALTER TABLE group_visits ADD COLUMN stranger INTEGER NOT NULL DEFAULT 0 CHECK (stranger IN (0, 1));

-- Fair shares (issue 21): how much each person stores here, kept as a running total so the
-- allowance an organisation sets (COREFLECT_STORAGE_MB) costs one lookup, not a sum over a
-- journal. Counted: their answers (every word of every entry, notes and plans included) and
-- voice notes, as sealed on disk. `told`: 0 nothing said yet, 1 told they are nearly at the
-- allowance, 2 told they are at it (each said once, again only after dropping below 80%).
CREATE TABLE storage_used (
    person_id  INTEGER PRIMARY KEY REFERENCES people(id) ON DELETE CASCADE,
    bytes      INTEGER NOT NULL DEFAULT 0,
    told       INTEGER NOT NULL DEFAULT 0
);

INSERT INTO storage_used (person_id, bytes)
SELECT person_id, SUM(n) FROM (
    SELECT e.person_id, length(a.value) AS n FROM answers a JOIN entries e ON e.id = a.entry_id
    UNION ALL
    SELECT e.person_id, length(v.audio) FROM voice_notes v JOIN entries e ON e.id = v.entry_id
) GROUP BY person_id;

-- Kept by triggers wherever words come or go. An entry's deletion takes its answers and voice
-- notes off first (BEFORE: they are still there); the cascade that then deletes them finds no
-- entry, so nothing is taken off twice.
CREATE TRIGGER storage_answer_added AFTER INSERT ON answers
BEGIN
    INSERT INTO storage_used (person_id, bytes)
    SELECT person_id, length(NEW.value) FROM entries WHERE id = NEW.entry_id
    ON CONFLICT (person_id) DO UPDATE SET bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER storage_answer_changed AFTER UPDATE OF value ON answers
BEGIN
    UPDATE storage_used SET bytes = bytes + length(NEW.value) - length(OLD.value)
    WHERE person_id = (SELECT person_id FROM entries WHERE id = NEW.entry_id);
END;
CREATE TRIGGER storage_answer_gone AFTER DELETE ON answers
BEGIN
    UPDATE storage_used SET bytes = bytes - length(OLD.value)
    WHERE person_id = (SELECT person_id FROM entries WHERE id = OLD.entry_id);
END;
CREATE TRIGGER storage_voice_added AFTER INSERT ON voice_notes
BEGIN
    INSERT INTO storage_used (person_id, bytes)
    SELECT person_id, length(NEW.audio) FROM entries WHERE id = NEW.entry_id
    ON CONFLICT (person_id) DO UPDATE SET bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER storage_voice_changed AFTER UPDATE OF audio ON voice_notes
BEGIN
    UPDATE storage_used SET bytes = bytes + length(NEW.audio) - length(OLD.audio)
    WHERE person_id = (SELECT person_id FROM entries WHERE id = NEW.entry_id);
END;
CREATE TRIGGER storage_voice_gone AFTER DELETE ON voice_notes
BEGIN
    UPDATE storage_used SET bytes = bytes - length(OLD.audio)
    WHERE person_id = (SELECT person_id FROM entries WHERE id = OLD.entry_id);
END;
CREATE TRIGGER storage_entry_gone BEFORE DELETE ON entries
BEGIN
    UPDATE storage_used SET bytes = bytes
        - COALESCE((SELECT SUM(length(value)) FROM answers WHERE entry_id = OLD.id), 0)
        - COALESCE((SELECT SUM(length(audio)) FROM voice_notes WHERE entry_id = OLD.id), 0)
    WHERE person_id = OLD.person_id;
END;
