-- City scale (issue 17): 100,000 members in one community without anyone waiting.
-- Indexes, a member-name search index and counts kept by triggers; each area under its own header.

-- people
-- Members, member search, broadcast recipients and the outbox, /mydata and /forgetme.

-- A community's members in joining order (member search's short-needle walk, pages) and by
-- role (its coordinators, committee: a few rows out of 100,000, not a filter over all).
CREATE INDEX IF NOT EXISTS memberships_joined ON memberships(community_id, joined_at, user_id);
CREATE INDEX IF NOT EXISTS memberships_role ON memberships(community_id, role, user_id);
CREATE INDEX IF NOT EXISTS memberships_group
    ON memberships(community_id, stakeholder_group, user_id);

-- Member search: a trigram full-text index of every user's name and username, so "contains"
-- (any case, any script; FTS5 folds case by Unicode) finds the few matches without reading
-- every member. rowid = users.id; kept by triggers, filled once here.
CREATE VIRTUAL TABLE IF NOT EXISTS member_names USING fts5(name, username, tokenize = 'trigram');
CREATE TRIGGER IF NOT EXISTS member_names_insert AFTER INSERT ON users BEGIN
    INSERT INTO member_names (rowid, name, username) VALUES
        (new.id, trim(new.first_name || ' ' || coalesce(new.last_name, '')),
         coalesce(new.username, ''));
END;
CREATE TRIGGER IF NOT EXISTS member_names_update
AFTER UPDATE OF first_name, last_name, username ON users BEGIN
    DELETE FROM member_names WHERE rowid = old.id;
    INSERT INTO member_names (rowid, name, username) VALUES
        (new.id, trim(new.first_name || ' ' || coalesce(new.last_name, '')),
         coalesce(new.username, ''));
END;
CREATE TRIGGER IF NOT EXISTS member_names_delete AFTER DELETE ON users BEGIN
    DELETE FROM member_names WHERE rowid = old.id;
END;
INSERT INTO member_names (rowid, name, username)
    SELECT id, trim(first_name || ' ' || coalesce(last_name, '')), coalesce(username, '')
    FROM users WHERE id NOT IN (SELECT rowid FROM member_names);

-- A broadcast is queued in chunks (each its own short transaction); ``queued_in`` is the
-- community being queued (a parent's broadcast goes through its communities in turn) and
-- ``queued_upto`` the last user id queued there, both NULL once every row is in the
-- outbox. A restart in between resumes after them (storage/broadcast.py queue_chunk).
ALTER TABLE broadcasts ADD COLUMN queued_in INTEGER;
ALTER TABLE broadcasts ADD COLUMN queued_upto INTEGER;
ALTER TABLE broadcasts ADD COLUMN paid INTEGER NOT NULL DEFAULT 0 CHECK (paid IN (0, 1));
ALTER TABLE broadcasts ADD COLUMN first_lang TEXT;
CREATE INDEX IF NOT EXISTS broadcasts_queuing ON broadcasts(queued_in)
    WHERE queued_in IS NOT NULL;

-- Every user column /mydata reads or /forgetme writes, and every foreign key's child column
-- (without an index SQLite scans the child table on each parent delete: ON DELETE CASCADE
-- or SET NULL of one user would read the whole outbox).
CREATE INDEX IF NOT EXISTS outbox_user ON outbox(user_id);
CREATE INDEX IF NOT EXISTS broadcasts_created_by ON broadcasts(created_by);
CREATE INDEX IF NOT EXISTS invites_created_by ON invites(created_by);
CREATE INDEX IF NOT EXISTS users_current_community ON users(current_community_id);
-- brainstorm
CREATE INDEX IF NOT EXISTS brainstorms_created_by ON brainstorms(created_by);
CREATE INDEX IF NOT EXISTS problem_cards_merged_into ON problem_cards(merged_into);
CREATE INDEX IF NOT EXISTS card_supporters_user ON card_supporters(user_id);
CREATE INDEX IF NOT EXISTS curation_log_card ON curation_log(card_id);
CREATE INDEX IF NOT EXISTS curation_log_brainstorm ON curation_log(brainstorm_id);
CREATE INDEX IF NOT EXISTS curation_log_actor ON curation_log(actor_id);
-- committee
CREATE INDEX IF NOT EXISTS elections_created_by ON elections(created_by);
CREATE INDEX IF NOT EXISTS nominations_nominee ON nominations(nominee_id);
CREATE INDEX IF NOT EXISTS nominations_nominated_by ON nominations(nominated_by);
CREATE INDEX IF NOT EXISTS election_voters_user ON election_voters(user_id);
CREATE INDEX IF NOT EXISTS ballot_drafts_user ON ballot_drafts(user_id);
CREATE INDEX IF NOT EXISTS ballot_drafts_nomination ON ballot_drafts(nomination_id);
CREATE INDEX IF NOT EXISTS committees_election ON committees(election_id);
CREATE INDEX IF NOT EXISTS committees_parent ON committees(parent_id);
CREATE INDEX IF NOT EXISTS committee_members_user ON committee_members(user_id);
CREATE INDEX IF NOT EXISTS chat_link_codes_committee ON chat_link_codes(committee_id);
-- plan
CREATE INDEX IF NOT EXISTS plans_created_by ON plans(created_by);
CREATE INDEX IF NOT EXISTS tree_items_parent ON tree_items(parent_id);
CREATE INDEX IF NOT EXISTS tree_items_author ON tree_items(author_id);
CREATE INDEX IF NOT EXISTS resources_user ON resources(user_id);
CREATE INDEX IF NOT EXISTS actors_created_by ON actors(created_by);
CREATE INDEX IF NOT EXISTS actors_community ON actors(community_id);
CREATE INDEX IF NOT EXISTS task_log_actor ON task_log(actor_id);
CREATE INDEX IF NOT EXISTS task_updates_author ON task_updates(author_id);
CREATE INDEX IF NOT EXISTS task_updates_task ON task_updates(task_id);
CREATE INDEX IF NOT EXISTS plan_followers_user ON plan_followers(user_id);
CREATE INDEX IF NOT EXISTS indicators_task ON indicators(task_id);
CREATE INDEX IF NOT EXISTS indicators_plan ON indicators(plan_id);
CREATE INDEX IF NOT EXISTS readings_by ON readings(by_id);
CREATE INDEX IF NOT EXISTS evaluations_by ON evaluations(by_id);
-- (process_* and city_* tables come with 0019, after this file on a new database: their
-- user columns' indexes need a migration numbered after 0019 — see the issue 17 notes.)

-- survey
-- /mydata and /forgetme find a person's drafts and participation by their user column.
CREATE INDEX IF NOT EXISTS survey_responses_by_respondent
    ON survey_responses(respondent_id) WHERE respondent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS survey_participants_by_user ON survey_participants(user_id);
CREATE INDEX IF NOT EXISTS surveys_created_by ON surveys(created_by);
-- Counted responses in export order (named ones by time, then anonymous ones by id), and the
-- newest free-text answers, walked from the end.
CREATE INDEX IF NOT EXISTS survey_responses_counted
    ON survey_responses(survey_id, finished, respondent_id IS NULL, updated_at);
-- Results: answers per question grouped by value, read from the index alone (a WITHOUT
-- ROWID table's index carries its key, response_id, too).
CREATE INDEX IF NOT EXISTS survey_answers_by_question ON survey_answers(question_id, value);

-- votes
-- A sticker vote of 100,000 voters holds 1,000,000 stickers: counting them per problem,
-- per voter or per stakeholder group at every look (results, standings, digests, reminders)
-- read a million index entries and built temporary B-trees, holding the one connection for
-- half a second. The counts are kept instead, by triggers on `stickers`, in small tables:
--   sticker_tally   stickers per problem (chat stickers only; paper ones stay in
--                   vote_problems.offline);
--   sticker_voters  stickers per known voter and the group recorded at placement (a voter
--                   whose group changed mid-vote has a row per group, as the stickers do);
--   sticker_groups  voters per group as participation counts them: each known voter once
--                   per group, each sticker whose voter was forgotten (/forgetme) once;
--   sticker_totals  distinct known voters per vote.
-- The rules (budget, no stacking, only while open) stay in the BEFORE triggers of 0003/0004:
-- these AFTER triggers only count what those let through. An UPDATE of a sticker (user_id
-- set to NULL by /forgetme's ON DELETE SET NULL) counts as taking OLD back and placing NEW.

CREATE TABLE sticker_tally (
    problem_id        INTEGER PRIMARY KEY REFERENCES vote_problems(id) ON DELETE CASCADE,
    prioritisation_id INTEGER NOT NULL REFERENCES prioritisations(id) ON DELETE CASCADE,
    stickers          INTEGER NOT NULL CHECK (stickers >= 0)
);
-- (not on stickers: every placement would move the index entry)
CREATE INDEX sticker_tally_vote ON sticker_tally(prioritisation_id);

CREATE TABLE sticker_voters (
    prioritisation_id INTEGER NOT NULL REFERENCES prioritisations(id) ON DELETE CASCADE,
    user_id           INTEGER NOT NULL,  -- follows stickers.user_id through the triggers
    stakeholder_group TEXT,
    stickers          INTEGER NOT NULL CHECK (stickers >= 0)
);
CREATE INDEX sticker_voters_key ON sticker_voters(prioritisation_id, user_id,
                                                  stakeholder_group);

CREATE TABLE sticker_groups (
    prioritisation_id INTEGER NOT NULL REFERENCES prioritisations(id) ON DELETE CASCADE,
    stakeholder_group TEXT,
    voters            INTEGER NOT NULL CHECK (voters >= 0)
);
CREATE INDEX sticker_groups_key ON sticker_groups(prioritisation_id, stakeholder_group);

CREATE TABLE sticker_totals (
    prioritisation_id INTEGER PRIMARY KEY REFERENCES prioritisations(id) ON DELETE CASCADE,
    voters            INTEGER NOT NULL CHECK (voters >= 0)
);

-- Backfill from the stickers already placed.
INSERT INTO sticker_tally (problem_id, prioritisation_id, stickers)
SELECT problem_id, prioritisation_id, COUNT(*) FROM stickers GROUP BY problem_id;
INSERT INTO sticker_voters (prioritisation_id, user_id, stakeholder_group, stickers)
SELECT prioritisation_id, user_id, stakeholder_group, COUNT(*) FROM stickers
WHERE user_id IS NOT NULL GROUP BY prioritisation_id, user_id, stakeholder_group;
INSERT INTO sticker_groups (prioritisation_id, stakeholder_group, voters)
SELECT prioritisation_id, stakeholder_group, COUNT(DISTINCT COALESCE(user_id, -rowid))
FROM stickers GROUP BY prioritisation_id, stakeholder_group;
INSERT INTO sticker_totals (prioritisation_id, voters)
SELECT prioritisation_id, COUNT(DISTINCT user_id) FROM stickers GROUP BY prioritisation_id;

-- Placing: the group and total look at sticker_voters before it counts this sticker.
CREATE TRIGGER stickers_count_placed AFTER INSERT ON stickers
BEGIN
    INSERT INTO sticker_tally (problem_id, prioritisation_id, stickers)
    VALUES (NEW.problem_id, NEW.prioritisation_id, 1)
    ON CONFLICT (problem_id) DO UPDATE SET stickers = stickers + 1;
    INSERT INTO sticker_groups (prioritisation_id, stakeholder_group, voters)
    SELECT NEW.prioritisation_id, NEW.stakeholder_group, 0
    WHERE NOT EXISTS (SELECT 1 FROM sticker_groups WHERE prioritisation_id = NEW.prioritisation_id
                      AND stakeholder_group IS NEW.stakeholder_group);
    UPDATE sticker_groups SET voters = voters + 1
    WHERE prioritisation_id = NEW.prioritisation_id
      AND stakeholder_group IS NEW.stakeholder_group
      AND (NEW.user_id IS NULL OR NOT EXISTS (
          SELECT 1 FROM sticker_voters WHERE prioritisation_id = NEW.prioritisation_id
          AND user_id = NEW.user_id AND stakeholder_group IS NEW.stakeholder_group));
    INSERT INTO sticker_totals (prioritisation_id, voters)
    SELECT NEW.prioritisation_id, 1
    WHERE NEW.user_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM sticker_voters WHERE prioritisation_id = NEW.prioritisation_id
        AND user_id = NEW.user_id)
    ON CONFLICT (prioritisation_id) DO UPDATE SET voters = voters + 1;
    INSERT INTO sticker_voters (prioritisation_id, user_id, stakeholder_group, stickers)
    SELECT NEW.prioritisation_id, NEW.user_id, NEW.stakeholder_group, 0
    WHERE NEW.user_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM sticker_voters WHERE prioritisation_id = NEW.prioritisation_id
        AND user_id = NEW.user_id AND stakeholder_group IS NEW.stakeholder_group);
    UPDATE sticker_voters SET stickers = stickers + 1
    WHERE prioritisation_id = NEW.prioritisation_id AND user_id = NEW.user_id
      AND stakeholder_group IS NEW.stakeholder_group;
END;

-- Taking back (or a cascade): the group and total look after the voter's row is gone.
CREATE TRIGGER stickers_count_taken AFTER DELETE ON stickers
BEGIN
    UPDATE sticker_tally SET stickers = stickers - 1 WHERE problem_id = OLD.problem_id;
    UPDATE sticker_voters SET stickers = stickers - 1
    WHERE prioritisation_id = OLD.prioritisation_id AND user_id = OLD.user_id
      AND stakeholder_group IS OLD.stakeholder_group;
    DELETE FROM sticker_voters
    WHERE prioritisation_id = OLD.prioritisation_id AND user_id = OLD.user_id
      AND stakeholder_group IS OLD.stakeholder_group AND stickers = 0;
    UPDATE sticker_groups SET voters = voters - 1
    WHERE prioritisation_id = OLD.prioritisation_id
      AND stakeholder_group IS OLD.stakeholder_group
      AND (OLD.user_id IS NULL OR NOT EXISTS (
          SELECT 1 FROM sticker_voters WHERE prioritisation_id = OLD.prioritisation_id
          AND user_id = OLD.user_id AND stakeholder_group IS OLD.stakeholder_group));
    UPDATE sticker_totals SET voters = voters - 1
    WHERE prioritisation_id = OLD.prioritisation_id AND OLD.user_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM sticker_voters
                      WHERE prioritisation_id = OLD.prioritisation_id
                      AND user_id = OLD.user_id);
END;

-- A changed sticker (in practice /forgetme nulling user_id): OLD taken back, NEW placed.
CREATE TRIGGER stickers_count_changed
AFTER UPDATE OF prioritisation_id, user_id, problem_id, stakeholder_group ON stickers
BEGIN
    UPDATE sticker_tally SET stickers = stickers - 1 WHERE problem_id = OLD.problem_id;
    UPDATE sticker_voters SET stickers = stickers - 1
    WHERE prioritisation_id = OLD.prioritisation_id AND user_id = OLD.user_id
      AND stakeholder_group IS OLD.stakeholder_group;
    DELETE FROM sticker_voters
    WHERE prioritisation_id = OLD.prioritisation_id AND user_id = OLD.user_id
      AND stakeholder_group IS OLD.stakeholder_group AND stickers = 0;
    UPDATE sticker_groups SET voters = voters - 1
    WHERE prioritisation_id = OLD.prioritisation_id
      AND stakeholder_group IS OLD.stakeholder_group
      AND (OLD.user_id IS NULL OR NOT EXISTS (
          SELECT 1 FROM sticker_voters WHERE prioritisation_id = OLD.prioritisation_id
          AND user_id = OLD.user_id AND stakeholder_group IS OLD.stakeholder_group));
    UPDATE sticker_totals SET voters = voters - 1
    WHERE prioritisation_id = OLD.prioritisation_id AND OLD.user_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM sticker_voters
                      WHERE prioritisation_id = OLD.prioritisation_id
                      AND user_id = OLD.user_id);

    INSERT INTO sticker_tally (problem_id, prioritisation_id, stickers)
    VALUES (NEW.problem_id, NEW.prioritisation_id, 1)
    ON CONFLICT (problem_id) DO UPDATE SET stickers = stickers + 1;
    INSERT INTO sticker_groups (prioritisation_id, stakeholder_group, voters)
    SELECT NEW.prioritisation_id, NEW.stakeholder_group, 0
    WHERE NOT EXISTS (SELECT 1 FROM sticker_groups WHERE prioritisation_id = NEW.prioritisation_id
                      AND stakeholder_group IS NEW.stakeholder_group);
    UPDATE sticker_groups SET voters = voters + 1
    WHERE prioritisation_id = NEW.prioritisation_id
      AND stakeholder_group IS NEW.stakeholder_group
      AND (NEW.user_id IS NULL OR NOT EXISTS (
          SELECT 1 FROM sticker_voters WHERE prioritisation_id = NEW.prioritisation_id
          AND user_id = NEW.user_id AND stakeholder_group IS NEW.stakeholder_group));
    INSERT INTO sticker_totals (prioritisation_id, voters)
    SELECT NEW.prioritisation_id, 1
    WHERE NEW.user_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM sticker_voters WHERE prioritisation_id = NEW.prioritisation_id
        AND user_id = NEW.user_id)
    ON CONFLICT (prioritisation_id) DO UPDATE SET voters = voters + 1;
    INSERT INTO sticker_voters (prioritisation_id, user_id, stakeholder_group, stickers)
    SELECT NEW.prioritisation_id, NEW.user_id, NEW.stakeholder_group, 0
    WHERE NEW.user_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM sticker_voters WHERE prioritisation_id = NEW.prioritisation_id
        AND user_id = NEW.user_id AND stakeholder_group IS NEW.stakeholder_group);
    UPDATE sticker_voters SET stickers = stickers + 1
    WHERE prioritisation_id = NEW.prioritisation_id AND user_id = NEW.user_id
      AND stakeholder_group IS NEW.stakeholder_group;
END;

-- /mydata and /forgetme find a person's rows by user: SEARCH, not SCAN (the ON DELETE SET
-- NULL of /forgetme looks each table up by its user column too).
CREATE INDEX IF NOT EXISTS stickers_by_user ON stickers(user_id);
CREATE INDEX IF NOT EXISTS comparisons_by_user ON comparisons(user_id);
CREATE INDEX IF NOT EXISTS ratings_by_user ON ratings(user_id);
CREATE INDEX IF NOT EXISTS prioritisations_by_creator ON prioritisations(created_by);

-- Digest: members who joined since the last digest, per stakeholder group, found by range
-- (community, group, joined_at) instead of reading all 100,000 memberships of the community.
CREATE INDEX IF NOT EXISTS memberships_group_joined
    ON memberships(community_id, stakeholder_group, joined_at);
