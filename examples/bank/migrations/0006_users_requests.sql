-- A user row exists from the registration request on, so that a client holding the request's
-- consistency token reads the request and later its outcome: `status` is `registering` until
-- the address's claim is decided, then `registered`, or `not_registered` again with `refusal`
-- saying why. `email` is the address the user holds (NULL before it is registered);
-- `pending_email` the address it asked for while the claim is decided.
-- The default keeps a projector of the previous version working while the new one rolls out
-- (it writes registered users only, without the new columns).
ALTER TABLE users
    ADD COLUMN status text NOT NULL DEFAULT 'registered',
    ADD COLUMN pending_email text,
    ADD COLUMN refusal text,
    ALTER COLUMN email DROP NOT NULL;
