-- The saga steps each aggregate has taken: per events partition that sent it steps
-- ("topic/partition"), the position [offset, step] of the cause of the latest one. Steps from
-- one partition arrive in the order of their causes, so the command side recognises a step
-- sent again — after a crash, a rebalance or lost consumer offsets — however old it is,
-- instead of only within the window of `recent_commands`.
ALTER TABLE aggregate_state ADD COLUMN steps_taken jsonb NOT NULL DEFAULT '{}';
