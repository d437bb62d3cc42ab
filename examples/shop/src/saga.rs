//! The order saga: a placed order asks its item's stock to reserve the units, and the stock's
//! answer confirms or rejects the order. Steps have deterministic command IDs from the order
//! ID, so a redelivered event sends the same command.

use tributary_domain::{Saga, SagaStep, step_command_id};

use crate::records::{ConfirmOrder, OrderEvent, RejectOrder, ReserveStock, StockEvent};
use crate::{ShopCommand, ShopEvent};

/// The order saga.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderSaga;

impl Saga for OrderSaga {
    type Event = ShopEvent;
    type Command = ShopCommand;

    fn react(
        &self,
        aggregate_id: &str,
        _version: u64,
        event: &ShopEvent,
    ) -> Vec<SagaStep<ShopCommand>> {
        let step = |order_id: &str, name: &str, target: &str, command: ShopCommand| SagaStep {
            command_id: step_command_id(order_id, name),
            aggregate_id: target.to_owned(),
            command,
        };
        let next = match event {
            ShopEvent::Order(OrderEvent::Placed(placed)) => Some(step(
                aggregate_id,
                "reserve",
                &placed.sku,
                ShopCommand::Stock(
                    ReserveStock {
                        order_id: aggregate_id.to_owned(),
                        quantity: placed.quantity,
                    }
                    .into(),
                ),
            )),
            ShopEvent::Stock(StockEvent::Reserved(reserved)) => Some(step(
                &reserved.order_id,
                "confirm",
                &reserved.order_id,
                ShopCommand::Order(ConfirmOrder {}.into()),
            )),
            ShopEvent::Stock(StockEvent::ReservationRefused(refused)) => Some(step(
                &refused.order_id,
                "reject",
                &refused.order_id,
                ShopCommand::Order(
                    RejectOrder {
                        reason: refused.reason.clone(),
                    }
                    .into(),
                ),
            )),
            _ => None,
        };
        next.into_iter().collect()
    }
}
