//! A whole domain as the engine sees it: its schemas, its aggregate types, the unions of their
//! commands and events, and its saga.
//!
//! The command side and the projector are generic over a [`Domain`]. They never name an
//! aggregate type: they learn the types through [`Domain::visit_aggregates`], which hands each
//! one to an [`AggregateVisitor`] as a type parameter, so each engine part builds what it needs
//! per type (a processor's book, a snapshot loader) without the domain knowing those parts.
//!
//! A saga sees events of every aggregate type and sends commands to any of them, so a domain
//! also names one type for "an event of any aggregate" and one for "a command to any
//! aggregate"; [`domain_records!`](crate::domain_records) declares such a union over the
//! aggregates' record sets.

use tributary_schemas::{Codec, DecodeError, EncodeError, SchemaRegistry};

use crate::aggregate::Aggregate;
use crate::saga::Saga;

/// Receives each aggregate type of a domain as a type parameter.
pub trait AggregateVisitor {
    /// Called once per aggregate type, in the domain's order.
    fn visit<A: Aggregate>(&mut self);
}

/// A command or event of any aggregate type of a domain, as sagas see and send them. It
/// serializes as its record's fields (the gateway's JSON form of a command).
pub trait DomainRecord:
    Clone + std::fmt::Debug + PartialEq + serde::Serialize + Send + Sync + Sized + 'static
{
    /// The aggregate type the record belongs to.
    fn aggregate_type(&self) -> &'static str;

    /// Full Avro name of the record (the `event-type` header of an event).
    fn full_name(&self) -> &'static str;

    /// Encodes the record with `codec`, framed with its writer schema.
    fn encode(&self, codec: &Codec) -> Result<Vec<u8>, EncodeError>;

    /// Decodes a record of `aggregate_type` from framed bytes; `None` for an aggregate type the
    /// domain does not have.
    fn decode(
        aggregate_type: &str,
        codec: &Codec,
        bytes: &[u8],
    ) -> Option<Result<Self, DecodeError>>;
}

/// A domain: what a team implements once to run its aggregates on Tributary.
///
/// ```
/// # use tributary_domain::{AggregateVisitor, Domain, Saga, SagaStep};
/// # use tributary_schemas::SchemaRegistry;
/// # #[derive(Clone, Debug, PartialEq, serde::Serialize)] pub struct Cmd;
/// # #[derive(Clone, Debug, PartialEq, serde::Serialize)] pub struct Evt;
/// # macro_rules! record { ($t:ty) => { impl tributary_domain::DomainRecord for $t {
/// #   fn aggregate_type(&self) -> &'static str { "cart" }
/// #   fn full_name(&self) -> &'static str { "shop.X" }
/// #   fn encode(&self, _: &tributary_schemas::Codec) -> Result<Vec<u8>, tributary_schemas::EncodeError> { Ok(vec![]) }
/// #   fn decode(_: &str, _: &tributary_schemas::Codec, _: &[u8]) -> Option<Result<Self, tributary_schemas::DecodeError>> { None }
/// # } } }
/// # record!(Cmd); record!(Evt);
/// /// A shop with no sagas.
/// pub struct Shop;
///
/// /// The shop reacts to nothing.
/// pub struct NoSaga;
///
/// impl Saga for NoSaga {
///     type Event = Evt;
///     type Command = Cmd;
///     fn react(&self, _: &str, _: u64, _: &Evt) -> Vec<SagaStep<Cmd>> {
///         Vec::new()
///     }
/// }
///
/// impl Domain for Shop {
///     type Command = Cmd;
///     type Event = Evt;
///     type Saga = NoSaga;
///     fn name(&self) -> &'static str {
///         "shop"
///     }
///     fn schemas(&self) -> &'static SchemaRegistry {
///         tributary_schemas::protocol_registry()
///     }
///     fn visit_aggregates<V: AggregateVisitor>(&self, _visitor: &mut V) {
///         // visitor.visit::<Cart>(); one line per aggregate type
///     }
///     fn saga(&self) -> &NoSaga {
///         &NoSaga
///     }
/// }
/// ```
pub trait Domain: Send + Sync + 'static {
    /// A command to any aggregate type (see [`domain_records!`](crate::domain_records)).
    type Command: DomainRecord;

    /// An event of any aggregate type (see [`domain_records!`](crate::domain_records)).
    type Event: DomainRecord;

    /// The processes spanning aggregates; a domain without any returns steps for no event.
    type Saga: Saga<Event = Self::Event, Command = Self::Command> + Send + Sync;

    /// The domain's name (`bank`, `shop`): the default name of its projection, which keys the
    /// projection's offsets, markers and consumer group and names the snapshot the command
    /// side rebuilds from (`PROJECTOR_NAME` overrides it on both sides).
    fn name(&self) -> &'static str;

    /// Every schema the domain's records use, with the pipeline's own
    /// ([`SchemaRegistry::with_protocol`]).
    fn schemas(&self) -> &'static SchemaRegistry;

    /// Hands every aggregate type to `visitor`, each once, in a fixed order.
    fn visit_aggregates<V: AggregateVisitor>(&self, visitor: &mut V);

    /// The domain's saga.
    fn saga(&self) -> &Self::Saga;

    /// A codec over [`Domain::schemas`] writing Avro single-object encoding.
    fn codec(&self) -> Codec {
        Codec::single_object(self.schemas())
    }

    /// The aggregate types, in the order of [`Domain::visit_aggregates`]: one events topic
    /// each.
    fn aggregate_types(&self) -> Vec<&'static str> {
        struct Types(Vec<&'static str>);
        impl AggregateVisitor for Types {
            fn visit<A: Aggregate>(&mut self) {
                self.0.push(A::TYPE);
            }
        }
        let mut types = Types(Vec::new());
        self.visit_aggregates(&mut types);
        types.0
    }
}

/// Declares an enum over the record sets of a domain's aggregates (their commands, or their
/// events) and implements [`DomainRecord`] for it, with `From` for each member.
///
/// For example, the shop's (`examples/shop/src/lib.rs`), where `StockCommand` and
/// `OrderCommand` are `record_set!` enums and `StockItem` and `Order` aggregates:
///
/// ```text
/// tributary_domain::domain_records! {
///     /// A command to any shop aggregate.
///     pub enum ShopCommand {
///         /// A command to a stock item.
///         Stock(StockCommand) => StockItem,
///         /// A command to an order.
///         Order(OrderCommand) => Order,
///     }
/// }
/// ```
///
/// Each variant names the record set it holds and the [`Aggregate`] it belongs to.
#[macro_export]
macro_rules! domain_records {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident($inner:ty) => $aggregate:ty ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name { $( $(#[$vmeta])* $variant($inner) ),+ }

        impl $crate::DomainRecord for $name {
            fn aggregate_type(&self) -> &'static str {
                match self {
                    $($name::$variant(_) => <$aggregate as $crate::Aggregate>::TYPE),+
                }
            }

            fn full_name(&self) -> &'static str {
                match self {
                    $($name::$variant(inner) => $crate::__schemas::RecordSet::full_name(inner)),+
                }
            }

            fn encode(
                &self,
                codec: &$crate::__schemas::Codec,
            ) -> Result<Vec<u8>, $crate::__schemas::EncodeError> {
                match self {
                    $($name::$variant(inner) => $crate::__schemas::RecordSet::encode(inner, codec)),+
                }
            }

            fn decode(
                aggregate_type: &str,
                codec: &$crate::__schemas::Codec,
                bytes: &[u8],
            ) -> Option<Result<Self, $crate::__schemas::DecodeError>> {
                $(
                    if aggregate_type == <$aggregate as $crate::Aggregate>::TYPE {
                        return Some(
                            <$inner as $crate::__schemas::RecordSet>::decode(codec, bytes)
                                .map($name::$variant),
                        );
                    }
                )+
                None
            }
        }

        impl $crate::__schemas::__serde::Serialize for $name {
            /// Serializes the member record alone: its fields, as in its schema.
            fn serialize<S: $crate::__schemas::__serde::Serializer>(
                &self,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                match self {
                    $($name::$variant(inner) => $crate::__schemas::__serde::Serialize::serialize(inner, serializer)),+
                }
            }
        }

        $(
            impl From<$inner> for $name {
                fn from(inner: $inner) -> Self {
                    $name::$variant(inner)
                }
            }
        )+
    };
}
