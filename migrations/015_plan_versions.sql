-- Plans (issue 24): the Wellness at Work plan, the development plan and the biography are each
-- one living document. Every finished change is a new entry in the plan's episode; the one it
-- replaces is kept, marked superseded (when), out of /entries, search, the pack and the share
-- lists, but in /export, erased by /forget like any entry, and there to look back through.
ALTER TABLE entries ADD COLUMN superseded_at TEXT;
