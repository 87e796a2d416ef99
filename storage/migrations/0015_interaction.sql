-- Issue 15: an administrator who created a community is not one of its members unless they
-- joined it by an invitation link. /newcommunity used to join them with the role 'admin' and
-- no stakeholder group; such rows counted them in results and sent them every notice.
DELETE FROM memberships WHERE role = 'admin' AND stakeholder_group IS NULL;

-- Issue 15: the language a live standings message is written in (the coordinator's in a
-- private chat, the community's in a group) was kept in memory only, so after a restart
-- every standings message was redrawn in the community's language. NULL: rows from before,
-- drawn in the community's language as they were.
ALTER TABLE standings_messages ADD COLUMN language TEXT;
