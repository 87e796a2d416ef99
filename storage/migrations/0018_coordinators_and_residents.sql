-- Issue 18: what coordinators and residents tripped on.

-- The tie rule ranks candidates by who accepted their nomination first. accepted_at is kept to
-- the second, so two acceptances in the same second fell back to the nomination's id; the
-- order of acceptance is now kept exactly, as a number per election given in the accepting
-- statement itself. Nominations accepted before this migration keep the order they had.
ALTER TABLE nominations ADD COLUMN accepted_seq INTEGER;
UPDATE nominations SET accepted_seq = (
    SELECT COUNT(*) FROM nominations o
    WHERE o.election_id = nominations.election_id AND o.accepted_at IS NOT NULL
      AND (o.accepted_at < nominations.accepted_at
           OR (o.accepted_at = nominations.accepted_at AND o.id <= nominations.id)))
WHERE accepted_at IS NOT NULL;
CREATE UNIQUE INDEX nominations_accepted_order ON nominations(election_id, accepted_seq);

-- Closing a survey, a vote or an election by hand may be undone for a short while: until
-- reopen_until, when members have not yet been told (their notices wait in the outbox until
-- then). NULL: closed by its time, or the window has passed, or it was announced at once.
ALTER TABLE surveys ADD COLUMN reopen_until TEXT;
ALTER TABLE prioritisations ADD COLUMN reopen_until TEXT;
ALTER TABLE elections ADD COLUMN reopen_until TEXT;

-- Coordinators hear of proposals for a plan's problem tree at most once an hour: when they
-- last heard (NULL: never) and the newest tree item that notice covered, so proposals after
-- it are the next notice's news (ids, not times: two may come in the same second).
ALTER TABLE plans ADD COLUMN proposals_told_at TEXT;
ALTER TABLE plans ADD COLUMN proposals_told_item INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tree_items_proposed ON tree_items(plan_id, id) WHERE status = 'proposed';
