//! The stock item aggregate (key: the SKU): units available and units reserved for orders.

use serde::{Deserialize, Serialize};
use tributary_domain::{Aggregate, Rejection};

use crate::records::{
    ReserveStock, StockAdded, StockCommand, StockEvent, StockReservationRefused, StockReserved,
};

/// One item's stock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockItem {
    /// Units that can be reserved.
    pub available: i64,
    /// Units set aside for orders.
    pub reserved: i64,
    /// Units ever added: zero for an item no stock was ever recorded for, which a
    /// reservation may still name (it is refused).
    pub received: i64,
}

impl Aggregate for StockItem {
    const TYPE: &'static str = "stock-item";
    type Command = StockCommand;
    type Event = StockEvent;

    fn decide(
        &self,
        id: &str,
        command: &StockCommand,
    ) -> Result<Option<StockEvent>, Rejection<StockEvent>> {
        match command {
            StockCommand::Add(add) if add.quantity <= 0 => Err(Rejection::new(format!(
                "cannot add {} units of {id}: the quantity must be positive",
                add.quantity
            ))),
            StockCommand::Add(add) => Ok(Some(
                StockAdded {
                    quantity: add.quantity,
                }
                .into(),
            )),
            StockCommand::Reserve(reserve) => self.reserve(id, reserve),
        }
    }

    fn apply(&mut self, event: &StockEvent) {
        match event {
            StockEvent::Added(added) => {
                self.available += added.quantity;
                self.received += added.quantity;
            }
            StockEvent::Reserved(reserved) => {
                self.available -= reserved.quantity;
                self.reserved += reserved.quantity;
            }
            StockEvent::ReservationRefused(_) | StockEvent::CommandRefused(_) => {}
        }
    }

    fn refusal(event: &StockEvent) -> Option<String> {
        match event {
            StockEvent::ReservationRefused(refused) => Some(refused.reason.clone()),
            _ => None,
        }
    }
}

impl StockItem {
    /// Sets units aside, or records why not so that the order saga can reject the order.
    fn reserve(
        &self,
        id: &str,
        reserve: &ReserveStock,
    ) -> Result<Option<StockEvent>, Rejection<StockEvent>> {
        if reserve.quantity > 0 && reserve.quantity <= self.available {
            return Ok(Some(
                StockReserved {
                    order_id: reserve.order_id.clone(),
                    quantity: reserve.quantity,
                }
                .into(),
            ));
        }
        let reason = format!(
            "{} units of {id} asked for, {} available",
            reserve.quantity, self.available
        );
        let refused = StockReservationRefused {
            order_id: reserve.order_id.clone(),
            quantity: reserve.quantity,
            reason: reason.clone(),
        };
        Err(Rejection::recorded(reason, refused))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_beyond_what_is_available_is_refused_and_recorded() {
        let mut item = StockItem::default();
        item.apply(&StockAdded { quantity: 5 }.into());
        let reserve = |quantity| {
            StockCommand::from(ReserveStock {
                order_id: "o-1".into(),
                quantity,
            })
        };
        let Ok(Some(event)) = item.decide("sku-1", &reserve(3)) else {
            panic!("3 of 5 is reserved");
        };
        item.apply(&event);
        assert_eq!((item.available, item.reserved), (2, 3));
        let refused = item.decide("sku-1", &reserve(4)).unwrap_err();
        assert_eq!(refused.reason, "4 units of sku-1 asked for, 2 available");
        let recorded = refused.recorded.expect("the refusal is an event");
        assert_eq!(
            StockItem::refusal(&recorded).as_deref(),
            Some(refused.reason.as_str())
        );
    }
}
