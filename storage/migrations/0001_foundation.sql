-- Users, communities, memberships and invites: the ground every capability stands on.
-- Timestamps are ISO-8601 text in UTC; each community keeps its own time zone for display.

CREATE TABLE users (
    id               INTEGER PRIMARY KEY,          -- the Telegram user id
    first_name       TEXT    NOT NULL DEFAULT '',
    last_name        TEXT,
    username         TEXT,
    language         TEXT    NOT NULL,
    language_chosen  INTEGER NOT NULL DEFAULT 0,   -- 1 once the user picked it themselves
    reachable        INTEGER NOT NULL DEFAULT 1,   -- 0 after Telegram said they blocked the bot
    current_community_id INTEGER REFERENCES communities(id) ON DELETE SET NULL,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);

CREATE TABLE communities (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL,
    default_language TEXT    NOT NULL,
    timezone         TEXT    NOT NULL,
    created_by       INTEGER,
    created_at       TEXT    NOT NULL
);

-- The stakeholder groups a community recognises, in display order. Default keys are
-- translated by the catalogs; a custom group carries its own label.
CREATE TABLE stakeholder_groups (
    community_id INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    key          TEXT    NOT NULL CHECK (length(key) BETWEEN 1 AND 32),
    label        TEXT,
    position     INTEGER NOT NULL,
    PRIMARY KEY (community_id, key)
);

CREATE TABLE memberships (
    community_id      INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    user_id           INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role              TEXT    NOT NULL
                      CHECK (role IN ('resident', 'coordinator', 'committee', 'admin')),
    stakeholder_group TEXT,
    joined_at         TEXT    NOT NULL,
    privacy_accepted_at TEXT  NOT NULL,
    PRIMARY KEY (community_id, user_id),
    FOREIGN KEY (community_id, stakeholder_group)
        REFERENCES stakeholder_groups(community_id, key)
);
CREATE INDEX memberships_by_user ON memberships(user_id);

CREATE TABLE invites (
    code         TEXT    PRIMARY KEY CHECK (length(code) BETWEEN 8 AND 64),
    community_id INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('resident', 'coordinator')),
    created_by   INTEGER,
    created_at   TEXT    NOT NULL,
    revoked_at   TEXT
);
CREATE INDEX invites_by_community ON invites(community_id, kind);

-- python-telegram-bot persistence (storage/persistence.py): JSON documents.
CREATE TABLE ptb_user_data (user_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE ptb_chat_data (chat_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE ptb_bot_data  (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL);
CREATE TABLE ptb_callback_data (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL);
CREATE TABLE ptb_conversations (
    name  TEXT NOT NULL,
    key   TEXT NOT NULL,   -- JSON array: the conversation key (chat id, user id, ...)
    state TEXT NOT NULL,   -- JSON: the state
    PRIMARY KEY (name, key)
);
