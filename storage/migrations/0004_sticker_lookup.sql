-- The no-stacking trigger looked for the voter's sticker on a problem through the
-- problem_id index, scanning every sticker on that problem: each placement cost O(stickers
-- on the problem), a vote of 2,000 residents slowed down as it filled (30 ms for 250
-- placements at the end against 2 ms at the start). The unary + keeps SQLite off that index,
-- so the lookup uses the unique (prioritisation_id, user_id, slot) index: the voter's own few
-- stickers.
DROP TRIGGER stickers_no_stacking;
CREATE TRIGGER stickers_no_stacking BEFORE INSERT ON stickers
WHEN (SELECT allow_stacking FROM prioritisations WHERE id = NEW.prioritisation_id) = 0
 AND EXISTS (SELECT 1 FROM stickers WHERE prioritisation_id = NEW.prioritisation_id
             AND user_id = NEW.user_id AND +problem_id = NEW.problem_id)
BEGIN
    SELECT RAISE(ABORT, 'one sticker per problem');
END;
