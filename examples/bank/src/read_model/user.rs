//! `users`: one row per user from its registration request on, with the address it holds, the
//! one it asked for and why its latest request was refused, if it was. Addresses are unique on
//! the command side, not here: a partition that lags may still show an address another
//! partition's user has taken over since (see migration 0004).

use crate::user::{User, UserStatus};
use sqlx::PgConnection;

use tributary_projector::plan::AggregateChange;
use tributary_projector::read_model::{ReadModel, changed_at};

/// Read table of the user aggregate.
#[derive(Debug, Default)]
pub struct UserReadModel;

impl ReadModel for UserReadModel {
    type Aggregate = User;

    async fn write<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        changes: &'a [AggregateChange<User>],
    ) -> Result<(), sqlx::Error> {
        let changes: Vec<&AggregateChange<User>> = changes
            .iter()
            .filter(|c| is_listed(&c.after.versioned.state))
            .collect();
        if changes.is_empty() {
            return Ok(());
        }
        let users: Vec<&User> = changes.iter().map(|c| &c.after.versioned.state).collect();
        let ids: Vec<&str> = changes.iter().map(|c| c.aggregate_id.as_str()).collect();
        let statuses: Vec<&str> = users.iter().map(|u| status_label(u.status)).collect();
        let emails: Vec<Option<&str>> = users
            .iter()
            .map(|u| Some(u.email.as_str()).filter(|email| !email.is_empty()))
            .collect();
        let pending: Vec<Option<&str>> = users.iter().map(|u| u.pending_email.as_deref()).collect();
        let names: Vec<&str> = users.iter().map(|u| u.display_name.as_str()).collect();
        let refusals: Vec<Option<&str>> = users.iter().map(|u| u.refusal.as_deref()).collect();
        let versions: Vec<i64> = changes
            .iter()
            .map(|c| c.after.versioned.version as i64)
            .collect();
        let times: Vec<i64> = changes.iter().map(|c| changed_at(c)).collect();
        sqlx::query(
            "INSERT INTO users (user_id, status, email, pending_email, display_name, refusal, version, updated_at)
             SELECT id, status, email, pending, name, refusal, version,
                    'epoch'::timestamptz + at_ms * interval '1 millisecond'
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::bigint[], $8::bigint[])
                  AS u(id, status, email, pending, name, refusal, version, at_ms)
             ON CONFLICT (user_id) DO UPDATE SET
                 status = EXCLUDED.status, email = EXCLUDED.email,
                 pending_email = EXCLUDED.pending_email, display_name = EXCLUDED.display_name,
                 refusal = EXCLUDED.refusal, version = EXCLUDED.version,
                 updated_at = EXCLUDED.updated_at",
        )
        .bind(&ids)
        .bind(&statuses)
        .bind(&emails)
        .bind(&pending)
        .bind(&names)
        .bind(&refusals)
        .bind(&versions)
        .bind(&times)
        .execute(connection)
        .await?;
        Ok(())
    }
}

/// Whether a user has a row: from its first request on. A user ID that only ever had commands
/// refused (say, a change of address before any registration) has none, and reads as 404.
pub fn is_listed(user: &User) -> bool {
    user.status != UserStatus::NotRegistered || user.refusal.is_some()
}

/// The `status` column's value for `status`.
pub fn status_label(status: UserStatus) -> &'static str {
    match status {
        UserStatus::NotRegistered => "not_registered",
        UserStatus::Registering => "registering",
        UserStatus::Registered => "registered",
    }
}
