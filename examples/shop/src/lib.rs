//! A small shop on Tributary, written against the public API only: stock items and orders,
//! and the saga that reserves stock for an order. It exists to prove the seam — a domain
//! outside the engine crates runs through the real pipeline — and as the worked example of
//! `docs/YOUR-DOMAIN.md`.
//!
//! - [`records`]: the typed records; the contract is the `.avsc` files under
//!   `examples/shop/avro`, embedded by `build.rs` and served by [`schemas`];
//! - [`stock`] and [`order`]: the aggregates; [`saga`]: the order saga;
//! - [`gateway`]: the commands clients may send, for the command gateway;
//! - [`projection`]: the read tables (`examples/shop/migrations`) and their routes.

pub mod gateway;
pub mod order;
pub mod projection;
pub mod records;
pub mod saga;
pub mod stock;

use std::sync::LazyLock;

use tributary_domain::{AggregateVisitor, Domain};
use tributary_schemas::SchemaRegistry;

use crate::order::Order;
use crate::records::{OrderCommand, OrderEvent, StockCommand, StockEvent};
use crate::stock::StockItem;

/// The shop's `.avsc` files, as (path relative to `examples/shop/avro`, contents).
static SCHEMA_FILES: &[(&str, &str)] = tributary_schemas::embedded_schema_files!();

static SCHEMAS: LazyLock<&'static SchemaRegistry> = LazyLock::new(|| {
    match SchemaRegistry::with_protocol(SCHEMA_FILES.iter().copied()) {
        Ok(registry) => registry.leak(),
        // `the_shop_schemas_form_a_valid_registry` parses them in the test suite.
        Err(error) => panic!("the shop schemas embedded in this build are invalid: {error}"),
    }
});

/// The shop's schema registry: the pipeline's records and the shop's.
pub fn schemas() -> &'static SchemaRegistry {
    *SCHEMAS
}

tributary_domain::domain_records! {
    /// An event of any shop aggregate.
    pub enum ShopEvent {
        /// An event of a stock item.
        Stock(StockEvent) => StockItem,
        /// An event of an order.
        Order(OrderEvent) => Order,
    }
}

tributary_domain::domain_records! {
    /// A command to any shop aggregate.
    pub enum ShopCommand {
        /// A command to a stock item.
        Stock(StockCommand) => StockItem,
        /// A command to an order.
        Order(OrderCommand) => Order,
    }
}

/// The shop as a [`Domain`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Shop;

impl Domain for Shop {
    type Command = ShopCommand;
    type Event = ShopEvent;
    type Saga = saga::OrderSaga;

    fn name(&self) -> &'static str {
        "shop"
    }

    fn schemas(&self) -> &'static SchemaRegistry {
        schemas()
    }

    fn visit_aggregates<V: AggregateVisitor>(&self, visitor: &mut V) {
        visitor.visit::<StockItem>();
        visitor.visit::<Order>();
    }

    fn saga(&self) -> &saga::OrderSaga {
        &saga::OrderSaga
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shop_schemas_form_a_valid_registry_with_compatible_histories() {
        let registry = SchemaRegistry::with_protocol(SCHEMA_FILES.iter().copied());
        assert!(registry.is_ok(), "{registry:?}");
        let problems = tributary_schemas::compatibility::check_histories(schemas());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(Shop.aggregate_types(), ["stock-item", "order"]);
    }
}
