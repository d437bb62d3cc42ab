-- The shop's read tables: stock levels per item and orders with their outcome.
CREATE TABLE stock_levels (
    sku        text PRIMARY KEY,
    available  bigint NOT NULL CHECK (available >= 0),
    reserved   bigint NOT NULL CHECK (reserved >= 0),
    version    bigint NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE orders (
    order_id   text PRIMARY KEY,
    sku        text NOT NULL,
    quantity   bigint NOT NULL CHECK (quantity > 0),
    status     text NOT NULL,
    reason     text,
    version    bigint NOT NULL,
    updated_at timestamptz NOT NULL
);
