-- Committee (issue 5): nominations, secret elections with stakeholder quotas, committees
-- and working groups. The ballot is secret by construction: who voted is stored apart
-- from what was chosen, and choices are stored only as per-candidate counts.

CREATE TABLE elections (
    id                   INTEGER PRIMARY KEY,
    community_id         INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    name                 TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    seats                INTEGER NOT NULL CHECK (seats BETWEEN 1 AND 50),
    approvals            INTEGER NOT NULL CHECK (approvals BETWEEN 1 AND 50),
    nomination_days      INTEGER NOT NULL CHECK (nomination_days BETWEEN 1 AND 60),
    voting_days          INTEGER NOT NULL CHECK (voting_days BETWEEN 1 AND 60),
    status               TEXT NOT NULL DEFAULT 'draft'
                         CHECK (status IN ('draft', 'nominating', 'voting', 'closed')),
    nominations_close_at TEXT,
    voting_close_at      TEXT,
    result               TEXT,          -- JSON: seats, reasons, shortfalls, ties, tie rule
    created_by           INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at           TEXT NOT NULL,
    closed_at            TEXT
);
CREATE INDEX elections_community ON elections(community_id, status);

CREATE TABLE election_quotas (
    election_id INTEGER NOT NULL REFERENCES elections(id) ON DELETE CASCADE,
    group_key   TEXT NOT NULL,
    minimum     INTEGER NOT NULL CHECK (minimum BETWEEN 0 AND 50),
    PRIMARY KEY (election_id, group_key)
) WITHOUT ROWID;

CREATE TABLE nominations (
    id                INTEGER PRIMARY KEY,
    election_id       INTEGER NOT NULL REFERENCES elections(id) ON DELETE CASCADE,
    nominee_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    nominated_by      INTEGER REFERENCES users(id) ON DELETE SET NULL,
    status            TEXT NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'accepted', 'declined')),
    stakeholder_group TEXT,
    statement         TEXT CHECK (statement IS NULL OR length(statement) <= 500),
    created_at        TEXT NOT NULL,
    accepted_at       TEXT,
    UNIQUE (election_id, nominee_id)
);

-- Who has voted: no time, no order (WITHOUT ROWID keeps rows in key order), no choices.
CREATE TABLE election_voters (
    election_id INTEGER NOT NULL REFERENCES elections(id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL,
    PRIMARY KEY (election_id, user_id)
) WITHOUT ROWID;

CREATE TRIGGER election_voters_only_while_voting BEFORE INSERT ON election_voters
WHEN (SELECT status FROM elections WHERE id = NEW.election_id) <> 'voting'
BEGIN
    SELECT RAISE(ABORT, 'election not open for voting');
END;

-- What was chosen: counts per candidate only.
CREATE TABLE election_tally (
    nomination_id INTEGER PRIMARY KEY REFERENCES nominations(id) ON DELETE CASCADE,
    votes         INTEGER NOT NULL DEFAULT 0 CHECK (votes >= 0)
);

-- Choices being made on an open ballot, before casting; deleted in the casting transaction.
CREATE TABLE ballot_drafts (
    election_id   INTEGER NOT NULL REFERENCES elections(id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    nomination_id INTEGER NOT NULL REFERENCES nominations(id) ON DELETE CASCADE,
    PRIMARY KEY (election_id, user_id, nomination_id)
) WITHOUT ROWID;

-- A committee (elected) or a working group under it.
CREATE TABLE committees (
    id           INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    parent_id    INTEGER REFERENCES committees(id) ON DELETE CASCADE,
    election_id  INTEGER REFERENCES elections(id) ON DELETE SET NULL,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    chat_id      INTEGER,       -- a linked Telegram group chat
    created_at   TEXT NOT NULL
);
CREATE INDEX committees_community ON committees(community_id);

CREATE TABLE committee_members (
    committee_id   INTEGER NOT NULL REFERENCES committees(id) ON DELETE CASCADE,
    user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    how            TEXT NOT NULL CHECK (how IN ('elected', 'co-opted', 'added')),
    seat           TEXT,        -- 'quota:<group>' or 'general' for elected members
    added_at       TEXT NOT NULL,
    removed_at     TEXT,
    removed_reason TEXT,
    PRIMARY KEY (committee_id, user_id)
) WITHOUT ROWID;

-- One-time codes that link a group chat to a committee or working group.
CREATE TABLE chat_link_codes (
    code         TEXT PRIMARY KEY,
    committee_id INTEGER NOT NULL REFERENCES committees(id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL
) WITHOUT ROWID;
