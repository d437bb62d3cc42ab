-- An address is unique among users on the command side (the e-mail-claim aggregate decides
-- it), not in this read table: users live on partitions that are projected independently, so
-- while one partition lags (routinely during a rebuild from offset 0) a user that moved away
-- from an address can still show it here when another user who took it over already does.
-- A constraint would refuse that valid event. Lookups by address pick the latest holder.
ALTER TABLE users DROP CONSTRAINT users_email_unique;
CREATE INDEX users_by_email ON users (email, updated_at DESC);
