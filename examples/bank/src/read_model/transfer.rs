//! `transfers`: one row per requested transfer, with where its saga has got.

use crate::transfer::{Transfer, TransferStatus};
use sqlx::PgConnection;

use tributary_projector::plan::AggregateChange;
use tributary_projector::read_model::{ReadModel, changed_at, label};

/// Read table of the transfer aggregate.
#[derive(Debug, Default)]
pub struct TransferReadModel;

impl ReadModel for TransferReadModel {
    type Aggregate = Transfer;

    async fn write<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        changes: &'a [AggregateChange<Transfer>],
    ) -> Result<(), sqlx::Error> {
        let live: Vec<&AggregateChange<Transfer>> = changes
            .iter()
            .filter(|c| c.after.versioned.state.status != TransferStatus::NotRequested)
            .collect();
        if live.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = live.iter().map(|c| c.aggregate_id.as_str()).collect();
        let requested: Vec<&Transfer> = live.iter().map(|c| &c.after.versioned.state).collect();
        let sources: Vec<&str> = requested
            .iter()
            .map(|t| t.source_account_id.as_str())
            .collect();
        let targets: Vec<&str> = requested
            .iter()
            .map(|t| t.target_account_id.as_str())
            .collect();
        let amounts: Vec<i64> = requested.iter().map(|t| t.amount).collect();
        let currencies: Vec<&str> = requested.iter().map(|t| t.currency.as_str()).collect();
        let statuses: Vec<String> = requested.iter().map(|t| label(&t.status)).collect();
        let reasons: Vec<Option<&str>> = requested
            .iter()
            .map(|t| t.failure_reason.as_deref())
            .collect();
        let compensated: Vec<bool> = requested.iter().map(|t| t.compensated).collect();
        let versions: Vec<i64> = live
            .iter()
            .map(|c| c.after.versioned.version as i64)
            .collect();
        let times: Vec<i64> = live.iter().map(|c| changed_at(c)).collect();
        sqlx::query(
            "INSERT INTO transfers (transfer_id, source_account_id, target_account_id, amount,
                                    currency, status, failure_reason, compensated, version, updated_at)
             SELECT id, source, target, amount, currency, status, reason, compensated, version,
                    'epoch'::timestamptz + at_ms * interval '1 millisecond'
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
                         $7::text[], $8::boolean[], $9::bigint[], $10::bigint[])
                  AS u(id, source, target, amount, currency, status, reason, compensated, version, at_ms)
             ON CONFLICT (transfer_id) DO UPDATE SET
                 status = EXCLUDED.status, failure_reason = EXCLUDED.failure_reason,
                 compensated = EXCLUDED.compensated, version = EXCLUDED.version,
                 updated_at = EXCLUDED.updated_at",
        )
        .bind(&ids)
        .bind(&sources)
        .bind(&targets)
        .bind(&amounts)
        .bind(&currencies)
        .bind(&statuses)
        .bind(&reasons)
        .bind(&compensated)
        .bind(&versions)
        .bind(&times)
        .execute(connection)
        .await?;
        Ok(())
    }
}
