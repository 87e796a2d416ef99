-- Prioritisation (issue 4): sticker voting, pairwise ranking, priority matrix.
-- The sticker budget is enforced here, not only in Python: a slot number per sticker,
-- unique per voter, checked against the prioritisation's budget by a trigger.

CREATE TABLE prioritisations (
    id             INTEGER PRIMARY KEY,
    community_id   INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    title          TEXT NOT NULL,
    method         TEXT NOT NULL CHECK (method IN ('stickers', 'pairwise', 'matrix')),
    stickers       INTEGER NOT NULL DEFAULT 3 CHECK (stickers BETWEEN 1 AND 10),
    allow_stacking INTEGER NOT NULL DEFAULT 0 CHECK (allow_stacking IN (0, 1)),
    closes_at      TEXT,
    status         TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_by     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at     TEXT NOT NULL,
    closed_at      TEXT
);
CREATE INDEX prioritisations_community ON prioritisations(community_id, status);

CREATE TABLE vote_problems (
    id                INTEGER PRIMARY KEY,
    prioritisation_id INTEGER NOT NULL REFERENCES prioritisations(id) ON DELETE CASCADE,
    position          INTEGER NOT NULL,
    title             TEXT NOT NULL,
    offline           INTEGER NOT NULL DEFAULT 0 CHECK (offline >= 0),  -- paper stickers
    UNIQUE (prioritisation_id, position)
);

-- One row per placed sticker. user_id becomes NULL after /forgetme: the count stays.
CREATE TABLE stickers (
    prioritisation_id INTEGER NOT NULL REFERENCES prioritisations(id) ON DELETE CASCADE,
    user_id           INTEGER REFERENCES users(id) ON DELETE SET NULL,
    slot              INTEGER NOT NULL CHECK (slot >= 1),
    problem_id        INTEGER NOT NULL REFERENCES vote_problems(id) ON DELETE CASCADE,
    stakeholder_group TEXT,
    placed_at         TEXT NOT NULL,
    UNIQUE (prioritisation_id, user_id, slot)
);
CREATE INDEX stickers_problem ON stickers(problem_id);

CREATE TRIGGER stickers_budget BEFORE INSERT ON stickers
WHEN NEW.slot > (SELECT stickers FROM prioritisations WHERE id = NEW.prioritisation_id)
BEGIN
    SELECT RAISE(ABORT, 'sticker budget exceeded');
END;

CREATE TRIGGER stickers_no_stacking BEFORE INSERT ON stickers
WHEN (SELECT allow_stacking FROM prioritisations WHERE id = NEW.prioritisation_id) = 0
 AND EXISTS (SELECT 1 FROM stickers WHERE prioritisation_id = NEW.prioritisation_id
             AND user_id = NEW.user_id AND problem_id = NEW.problem_id)
BEGIN
    SELECT RAISE(ABORT, 'one sticker per problem');
END;

CREATE TRIGGER stickers_only_while_open BEFORE INSERT ON stickers
WHEN (SELECT status FROM prioritisations WHERE id = NEW.prioritisation_id) <> 'open'
BEGIN
    SELECT RAISE(ABORT, 'prioritisation closed');
END;

-- Pairwise: one answer per voter and pair (a < b); winner NULL means "can't decide".
CREATE TABLE comparisons (
    prioritisation_id INTEGER NOT NULL REFERENCES prioritisations(id) ON DELETE CASCADE,
    user_id           INTEGER REFERENCES users(id) ON DELETE SET NULL,
    a_id              INTEGER NOT NULL REFERENCES vote_problems(id) ON DELETE CASCADE,
    b_id              INTEGER NOT NULL REFERENCES vote_problems(id) ON DELETE CASCADE,
    winner_id         INTEGER REFERENCES vote_problems(id) ON DELETE CASCADE,
    stakeholder_group TEXT,
    answered_at       TEXT NOT NULL,
    CHECK (a_id < b_id),
    CHECK (winner_id IS NULL OR winner_id IN (a_id, b_id)),
    UNIQUE (prioritisation_id, user_id, a_id, b_id)
);

-- Matrix: importance and urgency 1-3 per voter and problem.
CREATE TABLE ratings (
    prioritisation_id INTEGER NOT NULL REFERENCES prioritisations(id) ON DELETE CASCADE,
    user_id           INTEGER REFERENCES users(id) ON DELETE SET NULL,
    problem_id        INTEGER NOT NULL REFERENCES vote_problems(id) ON DELETE CASCADE,
    importance        INTEGER CHECK (importance BETWEEN 1 AND 3),
    urgency           INTEGER CHECK (urgency BETWEEN 1 AND 3),
    stakeholder_group TEXT,
    rated_at          TEXT NOT NULL,
    UNIQUE (prioritisation_id, user_id, problem_id)
);

-- Messages that show live standings (edited at a bounded rate) .
CREATE TABLE standings_messages (
    prioritisation_id INTEGER NOT NULL REFERENCES prioritisations(id) ON DELETE CASCADE,
    chat_id           INTEGER NOT NULL,
    message_id        INTEGER NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
