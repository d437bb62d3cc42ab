//! The order aggregate (key: the order ID): placed by a customer, then confirmed or rejected
//! by the order saga once the stock has decided.

use serde::{Deserialize, Serialize};
use tributary_domain::{Aggregate, Rejection};

use crate::records::{OrderCommand, OrderConfirmed, OrderEvent, OrderPlaced, OrderRejected};

/// Where an order is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Not placed yet.
    #[default]
    NotPlaced,
    /// Placed; the stock has not decided yet.
    Placed,
    /// Its units are reserved.
    Confirmed,
    /// It cannot be served.
    Rejected,
}

/// One order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Where it is.
    pub status: OrderStatus,
    /// The item ordered.
    pub sku: String,
    /// How many units.
    pub quantity: i64,
    /// Why it was rejected.
    pub reason: Option<String>,
}

type Decision = Result<Option<OrderEvent>, Rejection<OrderEvent>>;

impl Aggregate for Order {
    const TYPE: &'static str = "order";
    type Command = OrderCommand;
    type Event = OrderEvent;

    fn decide(&self, id: &str, command: &OrderCommand) -> Decision {
        match (command, self.status) {
            (OrderCommand::Place(place), OrderStatus::NotPlaced) if place.quantity > 0 => Ok(Some(
                OrderPlaced {
                    sku: place.sku.clone(),
                    quantity: place.quantity,
                }
                .into(),
            )),
            (OrderCommand::Place(place), OrderStatus::NotPlaced) => Err(Rejection::new(format!(
                "order {id} cannot be for {} units: the quantity must be positive",
                place.quantity
            ))),
            (OrderCommand::Confirm(_), OrderStatus::Placed) => Ok(Some(OrderConfirmed {}.into())),
            (OrderCommand::Confirm(_), OrderStatus::Confirmed) => Ok(None),
            (OrderCommand::Reject(reject), OrderStatus::Placed) => Ok(Some(
                OrderRejected {
                    reason: reject.reason.clone(),
                }
                .into(),
            )),
            (OrderCommand::Reject(_), OrderStatus::Rejected) => Ok(None),
            (_, status) => Err(Rejection::new(format!(
                "order {id} is {status:?}, so {} does not apply",
                tributary_schemas::RecordSet::full_name(command)
            ))),
        }
    }

    fn apply(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::Placed(placed) => {
                self.status = OrderStatus::Placed;
                self.sku = placed.sku.clone();
                self.quantity = placed.quantity;
            }
            OrderEvent::Confirmed(_) => self.status = OrderStatus::Confirmed,
            OrderEvent::Rejected(rejected) => {
                self.status = OrderStatus::Rejected;
                self.reason = Some(rejected.reason.clone());
            }
            OrderEvent::CommandRefused(_) => {}
        }
    }
}
