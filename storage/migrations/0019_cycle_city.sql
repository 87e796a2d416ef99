-- Issue 19, one file for its two halves: the participation cycle (first) and cities
-- (after it). They were written apart as 0019_process.sql and 0019_city.sql.

-- The participation cycle (issue 19): one community's process as seed 001's seven steps,
-- each not started, under way or done, linked to the surveys, brainstorms, votes,
-- elections and plans that moved it; marks made by hand (with undo), the next steps offered
-- to coordinators, and who has been shown the summary after joining.

-- One row per cycle; a new cycle begins after the last step of the one before is done.
CREATE TABLE process_cycles (
    id            INTEGER PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    number        INTEGER NOT NULL CHECK (number >= 1),
    steps         TEXT NOT NULL,        -- the steps this cycle uses, comma-separated, in order
    started_at    TEXT NOT NULL,
    ended_at      TEXT,                 -- when the next cycle began
    -- The most pressing problem step 1 led to: the priority vote's winner, or the one the
    -- coordinators chose among tied first places (tied = how many tied; 0: a clear winner).
    problem       TEXT,
    problem_vote  INTEGER REFERENCES prioritisations(id) ON DELETE SET NULL,
    problem_score REAL,
    problem_method TEXT,
    problem_tied  INTEGER NOT NULL DEFAULT 0,
    UNIQUE (community_id, number)
);

CREATE TABLE process_steps (
    cycle_id   INTEGER NOT NULL REFERENCES process_cycles(id) ON DELETE CASCADE,
    step       TEXT NOT NULL CHECK (step IN ('needs', 'committee', 'analysis', 'resources',
                                             'plan', 'monitoring', 'evaluation')),
    status     TEXT NOT NULL DEFAULT 'not_started'
               CHECK (status IN ('not_started', 'under_way', 'done')),
    started_at TEXT,
    done_at    TEXT,
    by_hand    INTEGER NOT NULL DEFAULT 0 CHECK (by_hand IN (0, 1)),  -- last set by a coordinator
    PRIMARY KEY (cycle_id, step)
) WITHOUT ROWID;

-- What a cycle's steps are made of: an object belongs to the cycle it began in.
CREATE TABLE process_links (
    cycle_id  INTEGER NOT NULL REFERENCES process_cycles(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL CHECK (kind IN ('survey', 'brainstorm', 'vote', 'election', 'plan')),
    object_id INTEGER NOT NULL,
    at        TEXT NOT NULL,
    PRIMARY KEY (kind, object_id)
) WITHOUT ROWID;
CREATE INDEX process_links_cycle ON process_links(cycle_id, kind);

-- Steps marked by hand, with the state before, so the latest mark can be undone.
CREATE TABLE process_marks (
    id             INTEGER PRIMARY KEY,
    cycle_id       INTEGER NOT NULL REFERENCES process_cycles(id) ON DELETE CASCADE,
    step           TEXT NOT NULL,
    status         TEXT NOT NULL,       -- what it was set to
    before_status  TEXT NOT NULL,
    before_started TEXT,
    before_done    TEXT,
    before_by_hand INTEGER NOT NULL,
    by_id          INTEGER REFERENCES users(id) ON DELETE SET NULL,
    at             TEXT NOT NULL,
    undone_at      TEXT
);
CREATE INDEX process_marks_cycle ON process_marks(cycle_id, id);

-- The next step offered to coordinators when one finishes: a plan for the vote's winner,
-- a choice among tied problems, a vote on a brainstorm's shortlist, the next cycle. One
-- per kind and subject (the vote, round or plan it follows); queued once (sent_at), and
-- what taking it made (result: a plan, a round) so a second tap shows it instead.
CREATE TABLE process_offers (
    id           INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    cycle_id     INTEGER NOT NULL REFERENCES process_cycles(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('plan', 'tie', 'vote', 'cycle')),
    subject      INTEGER NOT NULL,
    payload      TEXT NOT NULL DEFAULT '{}',  -- JSON: what the offer says
    created_at   TEXT NOT NULL,
    sent_at      TEXT,
    taken_at     TEXT,
    taken_by     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    result       INTEGER,
    UNIQUE (kind, subject)
);
CREATE INDEX process_offers_unsent ON process_offers(sent_at);
CREATE INDEX process_offers_cycle ON process_offers(cycle_id);

-- A member who joined once the cycle had begun is shown where it stands, once.
CREATE TABLE process_welcomed (
    community_id INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    at           TEXT NOT NULL,
    PRIMARY KEY (community_id, user_id)
) WITHOUT ROWID;

-- Cities (issue 19): communities under a parent (city → district → neighbourhood, any
-- depth), the merged list of the prioritised problems of every community below, a
-- prioritisation of that list at the parent's level, and approval up the chain.

-- The tree: a community's parent, set by an administrator. A tree table rather than a
-- column of communities, so the foundation's rows and dataclass stay as they are. The
-- triggers refuse a cycle (a community under itself, or under one of its own descendants)
-- whatever writes the row; the flow checks it first to say why.
CREATE TABLE community_parents (
    community_id INTEGER PRIMARY KEY REFERENCES communities(id) ON DELETE CASCADE,
    parent_id    INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    set_by       INTEGER REFERENCES users(id) ON DELETE SET NULL,
    set_at       TEXT NOT NULL,
    CHECK (community_id <> parent_id)
);
CREATE INDEX community_parents_parent ON community_parents(parent_id);

CREATE TRIGGER community_parents_no_cycle BEFORE INSERT ON community_parents
WHEN NEW.parent_id IN (
    WITH RECURSIVE below(id) AS (
        SELECT NEW.community_id
        UNION SELECT p.community_id FROM community_parents p JOIN below ON p.parent_id = below.id)
    SELECT id FROM below)
BEGIN
    SELECT RAISE(ABORT, 'community tree cycle');
END;

CREATE TRIGGER community_parents_no_cycle_update BEFORE UPDATE OF parent_id ON community_parents
WHEN NEW.parent_id IN (
    WITH RECURSIVE below(id) AS (
        SELECT NEW.community_id
        UNION SELECT p.community_id FROM community_parents p JOIN below ON p.parent_id = below.id)
    SELECT id FROM below)
BEGIN
    SELECT RAISE(ABORT, 'community tree cycle');
END;

-- The merged list of a parent: one row per problem, gathered from the newest closed
-- priority vote of each community below. Merging folds a problem into another (status
-- 'merged', merged_into); its support rows stay where they are, so undo needs no
-- bookkeeping and each community's support is counted once at read time.
CREATE TABLE city_problems (
    id           INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,  -- the parent
    title        TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    status       TEXT NOT NULL DEFAULT 'visible' CHECK (status IN ('visible', 'merged')),
    merged_into  INTEGER REFERENCES city_problems(id) ON DELETE SET NULL,
    gathered_from INTEGER REFERENCES vote_problems(id) ON DELETE SET NULL,  -- where it began
    created_at   TEXT NOT NULL
);
CREATE INDEX city_problems_community ON city_problems(community_id, status);
CREATE INDEX city_problems_gathered ON city_problems(community_id, gathered_from);

-- Where a merged problem's support comes from: one problem of one community's vote, with
-- its score there. A problem of a vote enters a parent's list once.
CREATE TABLE city_support (
    problem_id        INTEGER NOT NULL REFERENCES city_problems(id) ON DELETE CASCADE,
    community_id      INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE, -- parent
    source_id         INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    prioritisation_id INTEGER NOT NULL REFERENCES prioritisations(id) ON DELETE CASCADE,
    vote_problem_id   INTEGER NOT NULL REFERENCES vote_problems(id) ON DELETE CASCADE,
    method            TEXT NOT NULL,
    score             REAL NOT NULL,
    rank              INTEGER NOT NULL,
    UNIQUE (community_id, vote_problem_id)
);
CREATE INDEX city_support_problem ON city_support(problem_id);

-- Every merge with what it changed, so the latest can be undone.
CREATE TABLE city_merges (
    id           INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    problem_id   INTEGER NOT NULL REFERENCES city_problems(id) ON DELETE CASCADE,
    into_id      INTEGER NOT NULL REFERENCES city_problems(id) ON DELETE CASCADE,
    actor_id     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    undone       INTEGER NOT NULL DEFAULT 0 CHECK (undone IN (0, 1)),
    at           TEXT NOT NULL
);
CREATE INDEX city_merges_community ON city_merges(community_id, undone);

-- A sticker vote over the merged list, at the parent's level: by its committee (members
-- with the committee role or above) or by every member of the parent and of every
-- community below. One open at a time per parent.
CREATE TABLE city_votes (
    id           INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    electorate   TEXT NOT NULL CHECK (electorate IN ('committee', 'below')),
    stickers     INTEGER NOT NULL DEFAULT 3 CHECK (stickers BETWEEN 1 AND 10),
    status       TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_by   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    closed_at    TEXT
);
CREATE UNIQUE INDEX city_votes_one_open ON city_votes(community_id) WHERE status = 'open';

CREATE TABLE city_vote_items (
    id         INTEGER PRIMARY KEY,
    vote_id    INTEGER NOT NULL REFERENCES city_votes(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    problem_id INTEGER REFERENCES city_problems(id) ON DELETE SET NULL,
    title      TEXT NOT NULL,
    support    REAL NOT NULL,   -- the merged support when the vote opened (shown, not counted)
    UNIQUE (vote_id, position)
);

-- One row per sticker; the budget, one sticker per item and "only while open" are the
-- schema's, as for the communities' own votes (0003_voting.sql). user_id becomes NULL
-- after /forgetme: the count stays.
CREATE TABLE city_stickers (
    vote_id           INTEGER NOT NULL REFERENCES city_votes(id) ON DELETE CASCADE,
    user_id           INTEGER REFERENCES users(id) ON DELETE SET NULL,
    slot              INTEGER NOT NULL CHECK (slot >= 1),
    item_id           INTEGER NOT NULL REFERENCES city_vote_items(id) ON DELETE CASCADE,
    from_community    INTEGER REFERENCES communities(id) ON DELETE SET NULL,
    stakeholder_group TEXT,
    placed_at         TEXT NOT NULL,
    UNIQUE (vote_id, user_id, slot)
);
CREATE INDEX city_stickers_item ON city_stickers(item_id);

CREATE TRIGGER city_stickers_budget BEFORE INSERT ON city_stickers
WHEN NEW.slot > (SELECT stickers FROM city_votes WHERE id = NEW.vote_id)
BEGIN
    SELECT RAISE(ABORT, 'sticker budget exceeded');
END;

CREATE TRIGGER city_stickers_no_stacking BEFORE INSERT ON city_stickers
WHEN EXISTS (SELECT 1 FROM city_stickers WHERE vote_id = NEW.vote_id
             AND user_id = NEW.user_id AND +item_id = NEW.item_id)
BEGIN
    SELECT RAISE(ABORT, 'one sticker per problem');
END;

CREATE TRIGGER city_stickers_only_while_open BEFORE INSERT ON city_stickers
WHEN (SELECT status FROM city_votes WHERE id = NEW.vote_id) <> 'open'
BEGIN
    SELECT RAISE(ABORT, 'city vote closed');
END;

CREATE TRIGGER city_stickers_kept_after_closing BEFORE DELETE ON city_stickers
WHEN (SELECT status FROM city_votes WHERE id = OLD.vote_id) = 'closed'
BEGIN
    SELECT RAISE(ABORT, 'city vote closed');
END;

-- Approval up the chain: what a community submits to its parent (a vote's result, a
-- brainstorm shortlist, the result of its own city vote, a plan), with a snapshot of it
-- as submitted. A submission carried further up names the one it carries (origin_id).
-- One row per thing and parent: a returned submission is submitted again in place.
CREATE TABLE city_submissions (
    id           INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    parent_id    INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('vote', 'cityvote', 'shortlist', 'plan')),
    ref_id       INTEGER NOT NULL,
    origin_id    INTEGER REFERENCES city_submissions(id) ON DELETE CASCADE,
    title        TEXT NOT NULL,
    content      TEXT NOT NULL,   -- JSON: what the deciders read, as it was when submitted
    status       TEXT NOT NULL CHECK (status IN ('submitted', 'returned', 'approved')),
    created_by   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (community_id, parent_id, kind, ref_id)
);
CREATE INDEX city_submissions_parent ON city_submissions(parent_id, status);
CREATE INDEX city_submissions_ref ON city_submissions(kind, ref_id);

-- Its history: every submission, return (with the comment) and approval, who and when.
CREATE TABLE city_submission_events (
    id            INTEGER PRIMARY KEY,
    submission_id INTEGER NOT NULL REFERENCES city_submissions(id) ON DELETE CASCADE,
    status        TEXT NOT NULL CHECK (status IN ('submitted', 'returned', 'approved')),
    comment       TEXT,
    by_id         INTEGER REFERENCES users(id) ON DELETE SET NULL,
    at            TEXT NOT NULL
);
CREATE INDEX city_submission_events_submission ON city_submission_events(submission_id);
