-- The projector engine's own tables, in the projector's schema.

-- Where each projection has got in each source partition, and who may advance it.
-- A worker claims a partition by bumping `epoch`; it may only move `next_offset` forward
-- with the epoch it claimed and the offset it last saw (compare-and-set), so a worker that
-- lost the partition cannot commit a stale batch.
CREATE TABLE projector_offsets (
    projection   text        NOT NULL,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    next_offset  bigint      NOT NULL DEFAULT 0 CHECK (next_offset >= 0),
    epoch        bigint      NOT NULL DEFAULT 0,
    owner        text        NOT NULL DEFAULT '',
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    committed_at timestamptz,
    PRIMARY KEY (projection, topic, partition)
);

-- Aggregates whose events are held back because an earlier event of theirs could not be
-- applied: later events go to the dead-letter topic instead of being applied out of order.
CREATE TABLE parked_aggregates (
    projection   text        NOT NULL,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    aggregate_id text        NOT NULL,
    first_offset bigint      NOT NULL,
    reason       text        NOT NULL,
    error        text        NOT NULL,
    parked_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, aggregate_id)
);

-- Each aggregate's state as the domain's `apply` folds it: the snapshot the command side
-- rebuilds from (with the events after the offset its marker announces). `recent_commands`
-- holds the latest commands that caused its events, oldest first, as JSON objects
-- {"command_id", "version", "offset"}, so a repeated command can be answered with the
-- coordinates of its first outcome.
CREATE TABLE aggregate_state (
    aggregate_type     text        NOT NULL,
    aggregate_id       text        NOT NULL,
    version            bigint      NOT NULL CHECK (version > 0),
    state              jsonb       NOT NULL,
    recent_commands    jsonb       NOT NULL DEFAULT '[]',
    source_topic       text        NOT NULL,
    source_partition   integer     NOT NULL,
    source_offset      bigint      NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id)
);
