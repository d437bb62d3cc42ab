//! `accounts` (one row per opened account, as its folded state) and `account_ledger` (one row
//! per money movement, with the balance after it).

use crate::account::{Account, AccountStatus};
use crate::records::account::AccountEvent;
use sqlx::PgConnection;
use tributary_domain::Aggregate;

use tributary_projector::plan::AggregateChange;
use tributary_projector::read_model::{ReadModel, changed_at, label};

/// Read tables of the account aggregate.
#[derive(Debug, Default)]
pub struct AccountReadModel;

impl ReadModel for AccountReadModel {
    type Aggregate = Account;

    async fn write<'a>(
        &'a self,
        connection: &'a mut PgConnection,
        changes: &'a [AggregateChange<Account>],
    ) -> Result<(), sqlx::Error> {
        upsert_accounts(connection, changes).await?;
        insert_ledger(connection, changes).await
    }
}

async fn upsert_accounts(
    connection: &mut PgConnection,
    changes: &[AggregateChange<Account>],
) -> Result<(), sqlx::Error> {
    let opened: Vec<&AggregateChange<Account>> = changes
        .iter()
        .filter(|c| c.after.versioned.state.status != AccountStatus::NotOpened)
        .collect();
    if opened.is_empty() {
        return Ok(());
    }
    let state = |c: &&AggregateChange<Account>| c.after.versioned.state.clone();
    let ids: Vec<&str> = opened.iter().map(|c| c.aggregate_id.as_str()).collect();
    let owners: Vec<String> = opened.iter().map(|c| state(c).owner_id).collect();
    let currencies: Vec<String> = opened.iter().map(|c| state(c).currency).collect();
    let balances: Vec<i64> = opened.iter().map(|c| state(c).balance).collect();
    let statuses: Vec<String> = opened.iter().map(|c| label(&state(c).status)).collect();
    let versions: Vec<i64> = opened
        .iter()
        .map(|c| c.after.versioned.version as i64)
        .collect();
    let times: Vec<i64> = opened.iter().map(|c| changed_at(c)).collect();
    sqlx::query(
        "INSERT INTO accounts (account_id, owner_id, currency, balance, status, version, updated_at)
         SELECT id, owner, currency, balance, status, version,
                'epoch'::timestamptz + at_ms * interval '1 millisecond'
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::bigint[])
              AS u(id, owner, currency, balance, status, version, at_ms)
         ON CONFLICT (account_id) DO UPDATE SET
             owner_id = EXCLUDED.owner_id, currency = EXCLUDED.currency,
             balance = EXCLUDED.balance, status = EXCLUDED.status,
             version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
    )
    .bind(&ids)
    .bind(&owners)
    .bind(&currencies)
    .bind(&balances)
    .bind(&statuses)
    .bind(&versions)
    .bind(&times)
    .execute(connection)
    .await?;
    Ok(())
}

/// One ledger row, before it is spread into column arrays.
pub struct LedgerRow<'a> {
    /// The account.
    pub account_id: &'a str,
    /// Version of the movement's event.
    pub version: i64,
    /// `deposit`, `withdrawal`, `transfer_debit`, `transfer_credit` or `transfer_refund`.
    pub kind: &'static str,
    /// Signed amount.
    pub amount: i64,
    /// The balance after the movement.
    pub balance_after: i64,
    /// The transfer, for a transfer's movement.
    pub transfer_id: Option<&'a str>,
    /// The deposit's external reference, if any.
    pub reference: Option<&'a str>,
    /// When the event occurred, milliseconds since the Unix epoch.
    pub occurred_at: i64,
}

/// The ledger rows of a change: each money movement with the balance the fold reached.
pub fn ledger_rows(change: &AggregateChange<Account>) -> Vec<LedgerRow<'_>> {
    let mut state = change.before.versioned.state.clone();
    let mut rows = Vec::new();
    for applied in &change.events {
        state.apply(&applied.event);
        let movement = match &applied.event {
            AccountEvent::Deposited(e) => Some(("deposit", e.amount, None, e.reference.as_deref())),
            AccountEvent::Withdrawn(e) => Some(("withdrawal", -e.amount, None, None)),
            AccountEvent::DebitedForTransfer(e) => Some((
                "transfer_debit",
                -e.amount,
                Some(e.transfer_id.as_str()),
                None,
            )),
            AccountEvent::CreditedForTransfer(e) => Some((
                "transfer_credit",
                e.amount,
                Some(e.transfer_id.as_str()),
                None,
            )),
            AccountEvent::RefundedForTransfer(e) => Some((
                "transfer_refund",
                e.amount,
                Some(e.transfer_id.as_str()),
                None,
            )),
            _ => None,
        };
        if let Some((kind, amount, transfer_id, reference)) = movement {
            rows.push(LedgerRow {
                account_id: &change.aggregate_id,
                version: applied.version as i64,
                kind,
                amount,
                balance_after: state.balance,
                transfer_id,
                reference,
                occurred_at: applied.headers.occurred_at,
            });
        }
    }
    rows
}

async fn insert_ledger(
    connection: &mut PgConnection,
    changes: &[AggregateChange<Account>],
) -> Result<(), sqlx::Error> {
    let rows: Vec<LedgerRow<'_>> = changes.iter().flat_map(ledger_rows).collect();
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.account_id).collect();
    let versions: Vec<i64> = rows.iter().map(|r| r.version).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind).collect();
    let amounts: Vec<i64> = rows.iter().map(|r| r.amount).collect();
    let balances: Vec<i64> = rows.iter().map(|r| r.balance_after).collect();
    let transfers: Vec<Option<&str>> = rows.iter().map(|r| r.transfer_id).collect();
    let references: Vec<Option<&str>> = rows.iter().map(|r| r.reference).collect();
    let times: Vec<i64> = rows.iter().map(|r| r.occurred_at).collect();
    sqlx::query(
        "INSERT INTO account_ledger
             (account_id, version, kind, amount, balance_after, transfer_id, reference, occurred_at)
         SELECT id, version, kind, amount, balance_after, transfer_id, reference,
                'epoch'::timestamptz + at_ms * interval '1 millisecond'
         FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
                     $6::text[], $7::text[], $8::bigint[])
              AS u(id, version, kind, amount, balance_after, transfer_id, reference, at_ms)",
    )
    .bind(&ids)
    .bind(&versions)
    .bind(&kinds)
    .bind(&amounts)
    .bind(&balances)
    .bind(&transfers)
    .bind(&references)
    .bind(&times)
    .execute(connection)
    .await?;
    Ok(())
}
