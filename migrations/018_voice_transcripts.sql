-- Local transcription (COREFLECT_TRANSCRIBE_MODEL): the words heard in a voice note, held
-- sealed with the person's own data key until they choose "Keep the text too" (the words join
-- the answer, searchable like writing, and this goes back to NULL) or "Just the recording"
-- (this goes back to NULL). Goes with its voice note: Delete, /forget, crypto-shredding.
ALTER TABLE voice_notes ADD COLUMN transcript BLOB;
