-- The gentle identifying-detail check no longer waits for an answer: the flagged answer is kept
-- as written and the next question follows at once. The warning's buttons (Keep as written,
-- Rewrite it) can be pressed later, so the answer remembers which warning is still open: the
-- number the warning was given, or NULL once it is settled (kept, rewritten, or answered again).
ALTER TABLE answers ADD COLUMN warning INTEGER;
