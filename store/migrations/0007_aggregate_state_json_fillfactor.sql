-- `aggregate_state` is rewritten for every aggregate a batch changes and read back by the next
-- batch that touches it, so its cost per row is the projector's main cost in a catch-up.
--
-- `json` instead of `jsonb`: the columns are only ever written and read whole, as text, by
-- code that parses them itself; `jsonb` converted every value to its binary form on write and
-- back to text on every read. `json` stores the text as written (it still checks it is JSON).
--
-- Fill factor 60: an update of a row is made on the same page when there is room (a HOT
-- update), which needs no new entries in the table's indexes since no indexed column changes.
-- With full pages every update put a new version elsewhere and wrote to both indexes.
--
-- Both rewrite the table once, under an exclusive lock: on a large table, run `projector
-- migrate` in a quiet moment (docs/OPERATIONS.md, Upgrade).
ALTER TABLE aggregate_state SET (fillfactor = 60);
ALTER TABLE aggregate_state
    ALTER COLUMN state TYPE json USING state::json,
    ALTER COLUMN recent_commands TYPE json USING recent_commands::json,
    ALTER COLUMN recent_commands SET DEFAULT '[]'::json,
    ALTER COLUMN steps_taken TYPE json USING steps_taken::json,
    ALTER COLUMN steps_taken SET DEFAULT '{}'::json;
