-- City scale (issue 17), continued: user and foreign-key child columns of the cycle's and the
-- cities' tables (0019), for /mydata, /forgetme and ON DELETE. 0017 runs before 0019 creates
-- them, so these come after it (numbers must only be unique and in order).

-- process
CREATE INDEX IF NOT EXISTS process_marks_by ON process_marks(by_id);
CREATE INDEX IF NOT EXISTS process_offers_taken_by ON process_offers(taken_by);
CREATE INDEX IF NOT EXISTS process_offers_community ON process_offers(community_id);
CREATE INDEX IF NOT EXISTS process_welcomed_user ON process_welcomed(user_id);
-- city (its user columns; city_stickers like the communities' stickers)
CREATE INDEX IF NOT EXISTS community_parents_set_by ON community_parents(set_by);
CREATE INDEX IF NOT EXISTS city_merges_actor ON city_merges(actor_id);
CREATE INDEX IF NOT EXISTS city_votes_created_by ON city_votes(created_by);
CREATE INDEX IF NOT EXISTS city_stickers_user ON city_stickers(user_id);
CREATE INDEX IF NOT EXISTS city_submissions_created_by ON city_submissions(created_by);
CREATE INDEX IF NOT EXISTS city_submissions_origin ON city_submissions(origin_id);
CREATE INDEX IF NOT EXISTS city_submission_events_by ON city_submission_events(by_id);
