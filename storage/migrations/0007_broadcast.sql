-- Communication (issue 7): the delivery outbox, coordinators' broadcasts, quiet hours.
-- Every mass message is written here, one row per recipient, before anything is sent;
-- the delivery worker moves rows pending → sending → sent/failed, so a restart resumes
-- where it stopped and only rows caught in "sending" can go out twice.

ALTER TABLE communities ADD COLUMN quiet_start INTEGER NOT NULL DEFAULT 22
    CHECK (quiet_start BETWEEN 0 AND 23);
ALTER TABLE communities ADD COLUMN quiet_end INTEGER NOT NULL DEFAULT 8
    CHECK (quiet_end BETWEEN 0 AND 23);   -- equal to quiet_start: no quiet hours

CREATE TABLE broadcasts (
    id                  INTEGER PRIMARY KEY,
    community_id        INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    created_by          INTEGER REFERENCES users(id) ON DELETE SET NULL,
    audience            TEXT NOT NULL,
    photo               TEXT,
    status              TEXT NOT NULL DEFAULT 'sending'
                        CHECK (status IN ('sending', 'done', 'cancelled')),
    progress_chat_id    INTEGER,
    progress_message_id INTEGER,
    created_at          TEXT NOT NULL,
    finished_at         TEXT
);
CREATE INDEX broadcasts_community ON broadcasts(community_id);

CREATE TABLE broadcast_texts (
    broadcast_id INTEGER NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,
    lang         TEXT NOT NULL,
    text         TEXT NOT NULL,
    PRIMARY KEY (broadcast_id, lang)
) WITHOUT ROWID;

CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    broadcast_id INTEGER REFERENCES broadcasts(id) ON DELETE CASCADE,
    chat_id      INTEGER NOT NULL,
    user_id      INTEGER REFERENCES users(id) ON DELETE CASCADE,  -- NULL for group chats
    text         TEXT NOT NULL,
    photo        TEXT,
    markup       TEXT,                 -- an inline keyboard as Bot API JSON
    paid         INTEGER NOT NULL DEFAULT 0 CHECK (paid IN (0, 1)),
    state        TEXT NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    due_at       TEXT NOT NULL,        -- not before: quiet hours, retry back-off
    error        TEXT,
    dedupe       TEXT UNIQUE,          -- a notice or digest is never queued twice
    created_at   TEXT NOT NULL,
    sent_at      TEXT
);
CREATE INDEX outbox_due ON outbox(state, due_at);
CREATE INDEX outbox_broadcast ON outbox(broadcast_id, state);

-- Committee digests: what changed, daily or weekly at a local hour, to the committee's
-- group chat or to each member. ``last_period`` names the last period handled (a date or
-- an ISO week), so a restart never sends a period twice and downtime yields one catch-up.
CREATE TABLE digests (
    committee_id INTEGER PRIMARY KEY REFERENCES committees(id) ON DELETE CASCADE,
    frequency    TEXT NOT NULL CHECK (frequency IN ('daily', 'weekly')),
    hour         INTEGER NOT NULL DEFAULT 18 CHECK (hour BETWEEN 0 AND 23),
    weekday      INTEGER NOT NULL DEFAULT 0 CHECK (weekday BETWEEN 0 AND 6),  -- Monday = 0
    to_chat      INTEGER NOT NULL DEFAULT 1 CHECK (to_chat IN (0, 1)),
    since        TEXT NOT NULL,        -- changes after this moment go into the next digest
    last_period  TEXT
);

-- Pictures queued for sending (result charts): uploaded once, then sent by Telegram's
-- file id. An outbox row refers to one as photo "file:<id>".
CREATE TABLE outbox_files (
    id      INTEGER PRIMARY KEY,
    data    BLOB NOT NULL,
    file_id TEXT
);
