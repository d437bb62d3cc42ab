//! `users`: one row per registered user, with its current address. Addresses are unique on
//! the command side, not here: a partition that lags may still show an address another
//! partition's user has taken over since (see migration 0004).

use sqlx::PgConnection;
use tributary_domain::bank::user::{User, UserStatus};

use crate::plan::AggregateChange;
use crate::read_model::{ReadModel, changed_at};

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
        let registered: Vec<&AggregateChange<User>> = changes
            .iter()
            .filter(|c| c.after.versioned.state.status == UserStatus::Registered)
            .collect();
        if registered.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = registered.iter().map(|c| c.aggregate_id.as_str()).collect();
        let emails: Vec<&str> = registered
            .iter()
            .map(|c| c.after.versioned.state.email.as_str())
            .collect();
        let names: Vec<&str> = registered
            .iter()
            .map(|c| c.after.versioned.state.display_name.as_str())
            .collect();
        let versions: Vec<i64> = registered
            .iter()
            .map(|c| c.after.versioned.version as i64)
            .collect();
        let times: Vec<i64> = registered.iter().map(|c| changed_at(c)).collect();
        sqlx::query(
            "INSERT INTO users (user_id, email, display_name, version, updated_at)
             SELECT id, email, name, version, 'epoch'::timestamptz + at_ms * interval '1 millisecond'
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
                  AS u(id, email, name, version, at_ms)
             ON CONFLICT (user_id) DO UPDATE SET
                 email = EXCLUDED.email, display_name = EXCLUDED.display_name,
                 version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
        )
        .bind(&ids)
        .bind(&emails)
        .bind(&names)
        .bind(&versions)
        .bind(&times)
        .execute(connection)
        .await?;
        Ok(())
    }
}
