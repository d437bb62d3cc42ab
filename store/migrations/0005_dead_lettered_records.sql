-- Every record a projection sent to the dead-letter topic instead of applying it, written in
-- the transaction of the batch that skips it. A read whose consistency token names one of
-- these records is told that its write is not in the read tables (it would otherwise be
-- answered as if it were), and an operator finds each parked aggregate's records here in order.
CREATE TABLE dead_lettered_records (
    projection       text        NOT NULL,
    topic            text        NOT NULL,
    partition        integer     NOT NULL,
    source_offset    bigint      NOT NULL,
    aggregate_id     text,
    reason           text        NOT NULL,
    error            text        NOT NULL,
    parked_behind    bigint,
    dead_lettered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition, source_offset)
);
CREATE INDEX dead_lettered_records_by_aggregate
    ON dead_lettered_records (projection, topic, aggregate_id, source_offset);

-- What a projector of the previous version left: the first dead-lettered record of each parked
-- aggregate (the records dead-lettered behind it were not recorded, and are found in the
-- dead-letter topic).
INSERT INTO dead_lettered_records (projection, topic, partition, source_offset, aggregate_id, reason, error, dead_lettered_at)
SELECT projection, topic, partition, first_offset, aggregate_id, reason, error, parked_at
FROM parked_aggregates
ON CONFLICT DO NOTHING;
