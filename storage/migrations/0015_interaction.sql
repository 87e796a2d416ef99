-- Issue 15: an administrator who created a community is not one of its members unless they
-- joined it by an invitation link. /newcommunity used to join them with the role 'admin' and
-- no stakeholder group; such rows counted them in results and sent them every notice.
DELETE FROM memberships WHERE role = 'admin' AND stakeholder_group IS NULL;
