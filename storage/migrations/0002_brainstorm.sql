-- Problem brainstorming (issue 3): rounds, problem cards, "me too", curation with undo.
-- A card's support is the set of distinct people behind it — its author, its "me too"s,
-- and those of the cards merged into it — counted at read time, so merging never counts
-- anyone twice and undoing a merge needs no bookkeeping.

CREATE TABLE brainstorms (
    id           INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    prompt       TEXT NOT NULL CHECK (length(prompt) BETWEEN 1 AND 500),
    status       TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_by   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    closed_at    TEXT
);
CREATE INDEX brainstorms_community ON brainstorms(community_id, status);

CREATE TABLE problem_cards (
    id            INTEGER PRIMARY KEY,
    brainstorm_id INTEGER NOT NULL REFERENCES brainstorms(id) ON DELETE CASCADE,
    author_id     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    text          TEXT NOT NULL CHECK (length(text) BETWEEN 1 AND 500),
    photo         TEXT,
    status        TEXT NOT NULL DEFAULT 'visible' CHECK (status IN ('visible', 'hidden', 'merged')),
    hidden_reason TEXT,
    merged_into   INTEGER REFERENCES problem_cards(id) ON DELETE SET NULL,
    shortlisted   INTEGER NOT NULL DEFAULT 0 CHECK (shortlisted IN (0, 1)),
    created_at    TEXT NOT NULL
);
CREATE INDEX problem_cards_round ON problem_cards(brainstorm_id, status);
CREATE INDEX problem_cards_author ON problem_cards(author_id, created_at);

CREATE TABLE card_supporters (
    card_id INTEGER NOT NULL REFERENCES problem_cards(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (card_id, user_id)
) WITHOUT ROWID;

-- Every curation step with what it changed, so the latest can be undone.
CREATE TABLE curation_log (
    id            INTEGER PRIMARY KEY,
    brainstorm_id INTEGER NOT NULL REFERENCES brainstorms(id) ON DELETE CASCADE,
    actor_id      INTEGER REFERENCES users(id) ON DELETE SET NULL,
    action        TEXT NOT NULL CHECK (action IN ('edit', 'merge', 'hide', 'shortlist')),
    card_id       INTEGER NOT NULL REFERENCES problem_cards(id) ON DELETE CASCADE,
    before        TEXT NOT NULL,       -- JSON: the card's fields before the step
    undone        INTEGER NOT NULL DEFAULT 0,
    at            TEXT NOT NULL
);
