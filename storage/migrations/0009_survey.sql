-- Needs surveys (issue 3): multilingual surveys built in chat or from a file, answered one
-- question at a time. Texts are JSON objects {language: text}.
--
-- Anonymous surveys keep who took part apart from what was answered: while a person answers,
-- their draft is theirs (so a restart resumes it); when they finish, the answers move in one
-- transaction to a response with a random id and no person, no language and no time, and
-- the draft is deleted (secure_delete zeroes its pages). Who took part is a row in
-- survey_participants, without time or order, so nothing links the two.

CREATE TABLE surveys (
    id           INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
    title        TEXT NOT NULL,          -- JSON {language: text}
    intro        TEXT NOT NULL DEFAULT '{}',
    anonymous    INTEGER NOT NULL DEFAULT 0 CHECK (anonymous IN (0, 1)),
    status       TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('scheduled', 'open', 'closed')),
    opens_at     TEXT NOT NULL,
    closes_at    TEXT,                   -- NULL: closed by hand
    reminded     INTEGER NOT NULL DEFAULT 0, -- the day-before-closing reminder went out
    created_by   INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    closed_at    TEXT
);
CREATE INDEX surveys_community ON surveys(community_id, status);

CREATE TABLE survey_questions (
    id          INTEGER PRIMARY KEY,
    survey_id   INTEGER NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('text', 'single', 'multiple', 'scale', 'yesno')),
    prompt      TEXT NOT NULL,           -- JSON {language: text}
    options     TEXT NOT NULL DEFAULT '[]',  -- JSON [{language: text}, …]
    max_choices INTEGER,
    required    INTEGER NOT NULL DEFAULT 1 CHECK (required IN (0, 1)),
    UNIQUE (survey_id, position)
);

-- A response: a named one (respondent set) or, once finished, an anonymous one (id random,
-- respondent, language and times NULL). ``position`` is the question the person is on.
CREATE TABLE survey_responses (
    id            INTEGER PRIMARY KEY,
    survey_id     INTEGER NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
    respondent_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
    language      TEXT,
    position      INTEGER NOT NULL DEFAULT 0,
    finished      INTEGER NOT NULL DEFAULT 0 CHECK (finished IN (0, 1)),
    updated_at    TEXT,
    UNIQUE (survey_id, respondent_id)
);

CREATE TABLE survey_answers (
    response_id INTEGER NOT NULL REFERENCES survey_responses(id) ON DELETE CASCADE,
    question_id INTEGER NOT NULL REFERENCES survey_questions(id) ON DELETE CASCADE,
    value       TEXT NOT NULL,           -- JSON: text, option index, [indexes], 1–5, true/false
    PRIMARY KEY (response_id, question_id)
) WITHOUT ROWID;

-- Who has finished a survey (named or anonymous): no time, no order.
CREATE TABLE survey_participants (
    survey_id INTEGER NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL,
    PRIMARY KEY (survey_id, user_id)
) WITHOUT ROWID;

CREATE TRIGGER survey_answers_only_while_open BEFORE INSERT ON survey_answers
WHEN (SELECT s.status FROM surveys s JOIN survey_responses r ON r.survey_id = s.id
      WHERE r.id = NEW.response_id) <> 'open'
BEGIN
    SELECT RAISE(ABORT, 'survey not open');
END;
