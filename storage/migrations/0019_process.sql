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
