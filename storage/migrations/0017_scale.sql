-- City scale (issue 17): 100,000 members in one community without anyone waiting.

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
