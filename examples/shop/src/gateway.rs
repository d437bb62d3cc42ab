//! The shop's commands as the gateway reads them: clients add stock and place orders; the
//! saga's steps (reserve, confirm, reject) are refused to clients.

use tributary_domain::{Aggregate, Domain};
use tributary_producer::GatewayCommands;
use tributary_producer::command_request::{
    AggregateSpec, CommandCatalog, CommandSpec, FieldKind, FieldSpec, IdSpec, Sender,
};
use tributary_schemas::Record;

use crate::order::Order;
use crate::records::{AddStock, ConfirmOrder, PlaceOrder, RejectOrder, ReserveStock};
use crate::stock::StockItem;
use crate::{Shop, ShopCommand};

const ORDER_SAGA: Sender = Sender::Saga("order");

static AGGREGATES: [AggregateSpec<ShopCommand>; 2] = [
    AggregateSpec {
        name: StockItem::TYPE,
        id: IdSpec::PLAIN,
        commands: &[
            CommandSpec {
                name: "AddStock",
                full_name: AddStock::FULL_NAME,
                fields: &[FieldSpec::new("quantity", FieldKind::Amount)],
                sender: Sender::Client,
                build: |fields| {
                    let quantity = fields.amount("quantity")?;
                    Ok(ShopCommand::Stock(AddStock { quantity }.into()))
                },
            },
            CommandSpec {
                name: "ReserveStock",
                full_name: ReserveStock::FULL_NAME,
                fields: &[
                    FieldSpec::new("order_id", FieldKind::Id),
                    FieldSpec::new("quantity", FieldKind::Amount),
                ],
                sender: ORDER_SAGA,
                build: |fields| {
                    let command = ReserveStock {
                        order_id: fields.id("order_id")?,
                        quantity: fields.amount("quantity")?,
                    };
                    Ok(ShopCommand::Stock(command.into()))
                },
            },
        ],
    },
    AggregateSpec {
        name: Order::TYPE,
        id: IdSpec::PLAIN,
        commands: &[
            CommandSpec {
                name: "PlaceOrder",
                full_name: PlaceOrder::FULL_NAME,
                fields: &[
                    FieldSpec::new("sku", FieldKind::Id),
                    FieldSpec::new("quantity", FieldKind::Amount),
                ],
                sender: Sender::Client,
                build: |fields| {
                    let command = PlaceOrder {
                        sku: fields.id("sku")?,
                        quantity: fields.amount("quantity")?,
                    };
                    Ok(ShopCommand::Order(command.into()))
                },
            },
            CommandSpec {
                name: "ConfirmOrder",
                full_name: ConfirmOrder::FULL_NAME,
                fields: &[],
                sender: ORDER_SAGA,
                build: |_| Ok(ShopCommand::Order(ConfirmOrder {}.into())),
            },
            CommandSpec {
                name: "RejectOrder",
                full_name: RejectOrder::FULL_NAME,
                fields: &[FieldSpec::new("reason", FieldKind::Text)],
                sender: ORDER_SAGA,
                build: |fields| {
                    let reason = fields.text("reason")?;
                    Ok(ShopCommand::Order(RejectOrder { reason }.into()))
                },
            },
        ],
    },
];

impl GatewayCommands for Shop {
    fn catalog(&self) -> CommandCatalog<ShopCommand> {
        CommandCatalog {
            aggregates: &AGGREGATES,
            codec: self.codec(),
        }
    }
}
