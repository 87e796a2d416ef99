-- City scale (issue 17): indexes for 100,000 members. Each area adds under its own header.

-- survey
-- /mydata and /forgetme find a person's drafts and participation by their user column.
CREATE INDEX IF NOT EXISTS survey_responses_by_respondent
    ON survey_responses(respondent_id) WHERE respondent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS survey_participants_by_user ON survey_participants(user_id);
-- Counted responses in export order (named ones by time, then anonymous ones by id), and the
-- newest free-text answers, walked from the end.
CREATE INDEX IF NOT EXISTS survey_responses_counted
    ON survey_responses(survey_id, finished, respondent_id IS NULL, updated_at);
-- Results: answers per question grouped by value, read from the index alone (a WITHOUT
-- ROWID table's index carries its key, response_id, too).
CREATE INDEX IF NOT EXISTS survey_answers_by_question ON survey_answers(question_id, value);
