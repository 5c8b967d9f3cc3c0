//! The two DynamoDB tables as data: what `runtime create-tables` creates, what the provisioner
//! deploys, and what the store reads and writes.
//!
//! | table | partition key | sort key | items |
//! |---|---|---|---|
//! | entities | `pk` (S) | `sk` (S) | users, blocks, groups, send records, WebSocket connection records |
//! | feeds | `user` (S) | `seq` (N) | each user's head (`seq = 0`) and feed entries (`seq ≥ 1`) |
//!
//! The items themselves are the store's business (`runtime/src/store/dynamodb/items.rs`); only
//! the keys and the TTL attribute are part of the deployment.

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const USER: &str = "user";
pub const SEQ: &str = "seq";
/// The attribute DynamoDB's TTL expires items by: connection records always, feed entries when
/// retention is configured.
pub const TTL: &str = "ttl";

/// Which of the two tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableRole {
    Entities,
    Feeds,
}

impl TableRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entities => "entities",
            Self::Feeds => "feeds",
        }
    }
}

/// A key attribute's DynamoDB type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    String,
    Number,
}

/// One table's definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    pub role: TableRole,
    pub name: String,
    pub partition_key: (&'static str, KeyKind),
    pub sort_key: (&'static str, KeyKind),
    /// The attribute DynamoDB's TTL expires items by, when on.
    pub ttl_attribute: Option<&'static str>,
}

/// Both tables, by name; the feeds expire only when `feed_ttl_days` is above 0. Of the entities,
/// only connection records carry a `ttl`, so TTL is always on there.
pub fn tables(entities_table: &str, feeds_table: &str, feed_ttl_days: u32) -> [TableSpec; 2] {
    [
        TableSpec {
            role: TableRole::Entities,
            name: entities_table.to_owned(),
            partition_key: (PK, KeyKind::String),
            sort_key: (SK, KeyKind::String),
            ttl_attribute: Some(TTL),
        },
        TableSpec {
            role: TableRole::Feeds,
            name: feeds_table.to_owned(),
            partition_key: (USER, KeyKind::String),
            sort_key: (SEQ, KeyKind::Number),
            ttl_attribute: (feed_ttl_days > 0).then_some(TTL),
        },
    ]
}

#[cfg(feature = "dynamodb")]
mod sdk {
    use aws_sdk_dynamodb::types::{AttributeDefinition, KeySchemaElement, KeyType, ScalarAttributeType};

    use super::{KeyKind, TableSpec};

    impl TableSpec {
        pub fn key_schema(&self) -> Vec<KeySchemaElement> {
            let key = |name: &str, key_type| {
                KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().expect("complete key")
            };
            vec![key(self.partition_key.0, KeyType::Hash), key(self.sort_key.0, KeyType::Range)]
        }

        pub fn attribute_definitions(&self) -> Vec<AttributeDefinition> {
            let attribute = |(name, kind): (&str, KeyKind)| {
                let kind = match kind {
                    KeyKind::String => ScalarAttributeType::S,
                    KeyKind::Number => ScalarAttributeType::N,
                };
                AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build().expect("complete")
            };
            vec![attribute(self.partition_key), attribute(self.sort_key)]
        }
    }
}
