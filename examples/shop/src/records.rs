//! The shop's records as they travel on the wire; the field docs are in the `.avsc` files under
//! `examples/shop/avro`, which are the contract.

use serde::{Deserialize, Serialize};
use tributary_schemas::protocol::CommandRefused;
use tributary_schemas::{avro_record, record_set};

/// Units of the item arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockAdded {
    /// How many.
    pub quantity: i64,
}

/// Units were set aside for an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockReserved {
    /// The order.
    pub order_id: String,
    /// How many.
    pub quantity: i64,
}

/// An order asked for more units than are available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockReservationRefused {
    /// The order.
    pub order_id: String,
    /// How many it asked for.
    pub quantity: i64,
    /// Why.
    pub reason: String,
}

/// Record that units arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddStock {
    /// How many.
    pub quantity: i64,
}

/// Set units aside for an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveStock {
    /// The order.
    pub order_id: String,
    /// How many.
    pub quantity: i64,
}

/// A customer ordered units of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    /// The item.
    pub sku: String,
    /// How many.
    pub quantity: i64,
}

/// The order's units are reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {}

/// The order cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRejected {
    /// Why.
    pub reason: String,
}

/// Order units of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceOrder {
    /// The item.
    pub sku: String,
    /// How many.
    pub quantity: i64,
}

/// Confirm the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmOrder {}

/// Reject the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectOrder {
    /// Why.
    pub reason: String,
}

avro_record! {
    StockAdded => "shop.stock.StockAdded",
    StockReserved => "shop.stock.StockReserved",
    StockReservationRefused => "shop.stock.StockReservationRefused",
    AddStock => "shop.stock.AddStock",
    ReserveStock => "shop.stock.ReserveStock",
    OrderPlaced => "shop.order.OrderPlaced",
    OrderConfirmed => "shop.order.OrderConfirmed",
    OrderRejected => "shop.order.OrderRejected",
    PlaceOrder => "shop.order.PlaceOrder",
    ConfirmOrder => "shop.order.ConfirmOrder",
    RejectOrder => "shop.order.RejectOrder",
}

record_set! {
    /// Every event of a stock item.
    pub enum StockEvent {
        /// See [`StockAdded`].
        Added(StockAdded),
        /// See [`StockReserved`].
        Reserved(StockReserved),
        /// See [`StockReservationRefused`].
        ReservationRefused(StockReservationRefused),
        /// A refused command: see [`CommandRefused`].
        CommandRefused(CommandRefused),
    }
}

record_set! {
    /// Every command a stock item accepts.
    pub enum StockCommand {
        /// See [`AddStock`].
        Add(AddStock),
        /// See [`ReserveStock`].
        Reserve(ReserveStock),
    }
}

record_set! {
    /// Every event of an order.
    pub enum OrderEvent {
        /// See [`OrderPlaced`].
        Placed(OrderPlaced),
        /// See [`OrderConfirmed`].
        Confirmed(OrderConfirmed),
        /// See [`OrderRejected`].
        Rejected(OrderRejected),
        /// A refused command: see [`CommandRefused`].
        CommandRefused(CommandRefused),
    }
}

record_set! {
    /// Every command an order accepts.
    pub enum OrderCommand {
        /// See [`PlaceOrder`].
        Place(PlaceOrder),
        /// See [`ConfirmOrder`].
        Confirm(ConfirmOrder),
        /// See [`RejectOrder`].
        Reject(RejectOrder),
    }
}
