-- Action plans (issue 6): problem analysis (tree), the community's resources and actors,
-- plans with tasks, updates and a change log, indicators with readings, and evaluation.
-- Dates a person types (start, due, reading) are calendar days: TEXT 'YYYY-MM-DD'.

CREATE TABLE plans (
    id           INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    problem      TEXT NOT NULL CHECK (length(problem) BETWEEN 1 AND 500),
    status       TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'evaluated')),
    created_by   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX plans_community ON plans(community_id, status);

-- Causes (roots) and consequences (leaves) of the plan's problem; parent nests them.
CREATE TABLE tree_items (
    id         INTEGER PRIMARY KEY,
    plan_id    INTEGER NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('cause', 'consequence')),
    text       TEXT NOT NULL CHECK (length(text) BETWEEN 1 AND 300),
    author_id  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    status     TEXT NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'accepted', 'hidden')),
    parent_id  INTEGER REFERENCES tree_items(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX tree_items_plan ON tree_items(plan_id, kind, status);

-- What residents offer: a skill, a place, equipment, time or money.
CREATE TABLE resources (
    id           INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('skill', 'place', 'equipment', 'time', 'money')),
    description  TEXT NOT NULL CHECK (length(description) BETWEEN 1 AND 300),
    created_at   TEXT NOT NULL
);
CREATE INDEX resources_community ON resources(community_id, kind);

-- The institutional diagram: organisations and people that matter.
CREATE TABLE actors (
    id           INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    sector       TEXT NOT NULL CHECK (sector IN ('public', 'private', 'ngo', 'community', 'media', 'academia')),
    role         TEXT NOT NULL CHECK (length(role) BETWEEN 1 AND 300),
    influence    INTEGER NOT NULL CHECK (influence BETWEEN 1 AND 3),
    created_by   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL
);

CREATE TABLE tasks (
    id             INTEGER PRIMARY KEY,
    plan_id        INTEGER NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    title          TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    responsible_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    accepted       INTEGER CHECK (accepted IN (0, 1)),   -- NULL: not answered yet
    starts_on      TEXT NOT NULL,
    due_on         TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'planned'
                   CHECK (status IN ('planned', 'in_progress', 'blocked', 'done')),
    progress       INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    created_at     TEXT NOT NULL,
    CHECK (due_on >= starts_on)
);
CREATE INDEX tasks_plan ON tasks(plan_id);
CREATE INDEX tasks_responsible ON tasks(responsible_id);

-- Every change to a task: who, when, and each field's value before and after (JSON).
CREATE TABLE task_log (
    id       INTEGER PRIMARY KEY,
    task_id  INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    actor_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    at       TEXT NOT NULL,
    changes  TEXT NOT NULL
);
CREATE INDEX task_log_task ON task_log(task_id, id);

CREATE TABLE task_updates (
    id        INTEGER PRIMARY KEY,
    task_id   INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    author_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    text      TEXT NOT NULL CHECK (length(text) BETWEEN 1 AND 1000),
    progress  INTEGER NOT NULL CHECK (progress BETWEEN 0 AND 100),
    photo     TEXT,
    at        TEXT NOT NULL
);

CREATE TABLE plan_followers (
    plan_id INTEGER NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (plan_id, user_id)
) WITHOUT ROWID;

CREATE TABLE indicators (
    id        INTEGER PRIMARY KEY,
    plan_id   INTEGER NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    task_id   INTEGER REFERENCES tasks(id) ON DELETE SET NULL,
    name      TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    unit      TEXT NOT NULL CHECK (length(unit) BETWEEN 1 AND 50),
    baseline  REAL NOT NULL,
    target    REAL NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('up', 'down')),
    created_at TEXT NOT NULL
);

CREATE TABLE readings (
    id           INTEGER PRIMARY KEY,
    indicator_id INTEGER NOT NULL REFERENCES indicators(id) ON DELETE CASCADE,
    value        REAL NOT NULL,
    on_day       TEXT NOT NULL,
    source       TEXT,
    by_id        INTEGER REFERENCES users(id) ON DELETE SET NULL,
    at           TEXT NOT NULL
);
CREATE INDEX readings_indicator ON readings(indicator_id, on_day);

CREATE TABLE evaluations (
    plan_id  INTEGER PRIMARY KEY REFERENCES plans(id) ON DELETE CASCADE,
    reached  TEXT NOT NULL CHECK (reached IN ('yes', 'partly', 'no')),
    rating   INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    worked   TEXT NOT NULL,
    next     TEXT NOT NULL,          -- JSON list of "what next" items
    by_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    at       TEXT NOT NULL
);
