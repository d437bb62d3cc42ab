-- `accounts` and `transfers` rows are updated in place by most events (a balance, a status),
-- and no indexed column changes: with room left on each page PostgreSQL makes those updates on
-- the same page (HOT updates) and writes no new index entries. Takes effect for pages written
-- from now on; no rewrite.
ALTER TABLE accounts SET (fillfactor = 70);
ALTER TABLE transfers SET (fillfactor = 70);
