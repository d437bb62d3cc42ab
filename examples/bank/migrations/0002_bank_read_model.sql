-- Read tables of the reference bank domain.

CREATE TABLE accounts (
    account_id text        PRIMARY KEY,
    owner_id   text        NOT NULL,
    currency   text        NOT NULL,
    balance    bigint      NOT NULL CHECK (balance >= 0),
    status     text        NOT NULL,
    version    bigint      NOT NULL,
    updated_at timestamptz NOT NULL
);

-- One row per money movement, with the balance after it.
CREATE TABLE account_ledger (
    account_id    text        NOT NULL,
    version       bigint      NOT NULL,
    kind          text        NOT NULL,
    amount        bigint      NOT NULL,
    balance_after bigint      NOT NULL CHECK (balance_after >= 0),
    transfer_id   text,
    reference     text,
    occurred_at   timestamptz NOT NULL,
    PRIMARY KEY (account_id, version)
);

-- The e-mail uniqueness is checked at commit, so that a batch in which one user leaves an
-- address and another takes it is judged on its end state, not on statement order.
CREATE TABLE users (
    user_id      text        PRIMARY KEY,
    email        text        NOT NULL,
    display_name text        NOT NULL,
    version      bigint      NOT NULL,
    updated_at   timestamptz NOT NULL,
    CONSTRAINT users_email_unique UNIQUE (email) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE transfers (
    transfer_id       text        PRIMARY KEY,
    source_account_id text        NOT NULL,
    target_account_id text        NOT NULL,
    amount            bigint      NOT NULL,
    currency          text        NOT NULL,
    status            text        NOT NULL,
    failure_reason    text,
    compensated       boolean     NOT NULL DEFAULT false,
    version           bigint      NOT NULL,
    updated_at        timestamptz NOT NULL
);
