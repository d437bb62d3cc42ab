//! The bridge between Rust values and the schemas: each typed record names its Avro full name,
//! and each set of records (an aggregate's events, its commands) dispatches a decoded value to
//! the right variant by that name.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Codec, Decoded};
use crate::error::{DecodeError, EncodeError};

/// A Rust value with an Avro record schema in its domain's schema registry.
///
/// The serde shape of the type must match the newest version of that schema (field names and
/// types); the round-trip tests of every record check that it does.
pub trait Record: Serialize + DeserializeOwned {
    /// Full Avro name of the record, e.g. `tributary.bank.account.Deposited`.
    const FULL_NAME: &'static str;
}

/// A closed set of records that can share a topic, like the events of one aggregate.
pub trait RecordSet: Sized {
    /// Full names of every member, in declaration order.
    const FULL_NAMES: &'static [&'static str];

    /// Full Avro name of this value's record.
    fn full_name(&self) -> &'static str;

    /// Encodes the member with `codec`.
    fn encode(&self, codec: &Codec) -> Result<Vec<u8>, EncodeError>;

    /// Turns a decoded value into the member its record name selects.
    fn from_decoded(decoded: Decoded) -> Result<Self, DecodeError>;

    /// The value as record type `T`, when it is that member of the set.
    fn member<T: Record + 'static>(&self) -> Option<&T>;

    /// Decodes framed bytes into a member of the set.
    fn decode(codec: &Codec, bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_decoded(codec.decode(bytes)?)
    }
}

/// Declares the Avro full name of one or more record types: implements [`Record`] for each.
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// pub struct ItemAdded { pub sku: String }
///
/// tributary_schemas::avro_record!(ItemAdded => "shop.cart.ItemAdded");
/// assert_eq!(<ItemAdded as tributary_schemas::Record>::FULL_NAME, "shop.cart.ItemAdded");
/// ```
#[macro_export]
macro_rules! avro_record {
    ($($ty:ident => $full_name:literal),+ $(,)?) => {
        $(
            impl $crate::record::Record for $ty {
                const FULL_NAME: &'static str = $full_name;
            }
        )+
    };
}

/// Declares an enum over record types that implements [`RecordSet`], with `From` for each
/// member: the events (or the commands) of one aggregate.
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// pub struct ItemAdded { pub sku: String }
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// pub struct CheckedOut {}
/// tributary_schemas::avro_record!(ItemAdded => "shop.cart.ItemAdded", CheckedOut => "shop.cart.CheckedOut");
///
/// tributary_schemas::record_set! {
///     /// Everything that happens to a cart.
///     pub enum CartEvent { ItemAdded(ItemAdded), CheckedOut(CheckedOut) }
/// }
/// use tributary_schemas::RecordSet;
/// assert_eq!(CartEvent::from(CheckedOut {}).full_name(), "shop.cart.CheckedOut");
/// ```
#[macro_export]
macro_rules! record_set {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident($ty:ty) ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name { $( $(#[$vmeta])* $variant($ty) ),+ }

        impl $crate::record::RecordSet for $name {
            const FULL_NAMES: &'static [&'static str] =
                &[$(<$ty as $crate::record::Record>::FULL_NAME),+];

            fn full_name(&self) -> &'static str {
                match self {
                    $( $name::$variant(_) => <$ty as $crate::record::Record>::FULL_NAME ),+
                }
            }

            fn encode(
                &self,
                codec: &$crate::codec::Codec,
            ) -> Result<Vec<u8>, $crate::error::EncodeError> {
                match self {
                    $( $name::$variant(record) => codec.encode(record) ),+
                }
            }

            fn member<T: $crate::record::Record + 'static>(&self) -> Option<&T> {
                match self {
                    $( $name::$variant(record) => (record as &dyn std::any::Any).downcast_ref::<T>() ),+
                }
            }

            fn from_decoded(
                decoded: $crate::codec::Decoded,
            ) -> Result<Self, $crate::error::DecodeError> {
                $(
                    if decoded.full_name() == <$ty as $crate::record::Record>::FULL_NAME {
                        return decoded.into_record::<$ty>().map($name::$variant);
                    }
                )+
                Err($crate::error::DecodeError::UnexpectedRecord {
                    expected: format!("one of {}", stringify!($name)),
                    found: decoded.full_name().to_owned(),
                })
            }
        }

        impl $crate::__serde::Serialize for $name {
            /// Serializes the member record alone: its fields, as in its schema.
            fn serialize<S: $crate::__serde::Serializer>(
                &self,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                match self {
                    $( $name::$variant(record) => $crate::__serde::Serialize::serialize(record, serializer) ),+
                }
            }
        }

        $(
            impl From<$ty> for $name {
                fn from(record: $ty) -> Self {
                    $name::$variant(record)
                }
            }
        )+
    };
}

/// The `.avsc` files a build script embedded with `tributary_schema_embed::embed_avro_dir`, as a
/// `&'static [(&str, &str)]` of (path relative to the directory, contents), ready for
/// [`SchemaRegistry::with_protocol`](crate::SchemaRegistry::with_protocol).
#[macro_export]
macro_rules! embedded_schema_files {
    () => {
        include!(concat!(env!("OUT_DIR"), "/tributary_schema_files.rs"))
    };
}
