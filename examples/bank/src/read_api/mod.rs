//! The bank's read routes: accounts and their ledger, users (by ID and by e-mail address) and
//! transfers, one file per resource, each a view type, its query and its handler. Every
//! handler honours the consistency token through `ReadApi::consistent` before it reads.

mod accounts;
#[cfg(test)]
mod openapi_tests;
mod transfers;
mod users;

use axum::Router;
use axum::routing::get;
use tributary_projector::read_api::{ReadApi, ReadRoutes};
use utoipa::OpenApi;

use accounts::{AccountView, LedgerEntry, LedgerView};
use transfers::TransferView;
use users::UserView;

/// The routes, shared by the router and the OpenAPI document so that the two cannot differ.
mod paths {
    /// One account.
    pub const ACCOUNT: &str = "/v1/accounts/{id}";
    /// An account's money movements.
    pub const LEDGER: &str = "/v1/accounts/{id}/ledger";
    /// One user.
    pub const USER: &str = "/v1/users/{id}";
    /// The user holding an e-mail address.
    pub const USER_BY_EMAIL: &str = "/v1/users/by-email/{email}";
    /// One transfer.
    pub const TRANSFER: &str = "/v1/transfers/{id}";
}

/// The description of the bank's routes, derived from the handlers and their view types.
#[derive(OpenApi)]
#[openapi(
    paths(
        accounts::get_account,
        accounts::get_ledger,
        users::get_user,
        users::get_user_by_email,
        transfers::get_transfer,
    ),
    components(schemas(AccountView, LedgerEntry, LedgerView, UserView, TransferView))
)]
struct BankReadDoc;

/// The bank's read routes and their description.
pub fn routes() -> ReadRoutes {
    let router: Router<ReadApi> = Router::new()
        .route(paths::ACCOUNT, get(accounts::get_account))
        .route(paths::LEDGER, get(accounts::get_ledger))
        .route(paths::USER, get(users::get_user))
        .route(paths::USER_BY_EMAIL, get(users::get_user_by_email))
        .route(paths::TRANSFER, get(transfers::get_transfer));
    ReadRoutes {
        router,
        openapi: BankReadDoc::openapi(),
    }
}
