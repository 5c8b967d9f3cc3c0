//! The two tables, as code: used by the tests against the emulator, by `runtime create-tables`,
//! and as the reference for the provisioner.
//!
//! | table | partition key | sort key | items |
//! |---|---|---|---|
//! | entities | `pk` (S) | `sk` (S) | `U#<user>`/`profile`: name · `U#<user>`/`block#<target>` · `G#<group>`/`group`: name, owner, members (L), version · `U#<sender>`/`sent#<client_id>`: message, chunks, done · `U#<sender>`/`sent#<client_id>#to`: recipients (L) |
//! | feeds | `user` (S) | `seq` (N) | `seq = 0`: head (N) · `seq ≥ 1`: message (S, API JSON), at (N, ms), ttl (N, optional) |
//!
//! Both on-demand; TTL on `ttl` of the feeds table when retention is configured.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::DynamoOptions;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const USER: &str = "user";
pub const SEQ: &str = "seq";
pub const TTL: &str = "ttl";

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().expect("complete key element")
}

fn attribute(name: &str, kind: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build().expect("complete attribute")
}

/// Creates both tables (on-demand) and waits until they are active; existing tables are kept.
pub async fn create_tables(client: &Client, options: &DynamoOptions) -> anyhow::Result<()> {
    let tables = [
        (&options.entities_table, (PK, ScalarAttributeType::S), (SK, ScalarAttributeType::S)),
        (&options.feeds_table, (USER, ScalarAttributeType::S), (SEQ, ScalarAttributeType::N)),
    ];
    for (name, (hash, hash_type), (range, range_type)) in tables {
        let created = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(hash, KeyType::Hash))
            .key_schema(key(range, KeyType::Range))
            .attribute_definitions(attribute(hash, hash_type))
            .attribute_definitions(attribute(range, range_type))
            .send()
            .await;
        if let Err(error) = created {
            let already = error.as_service_error().is_some_and(|e| e.is_resource_in_use_exception());
            if !already {
                return Err(anyhow::anyhow!(
                    "creating table {name}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(error)
                ));
            }
        }
        for _ in 0..100 {
            let table = client.describe_table().table_name(name).send().await?;
            let active = table.table().and_then(|t| t.table_status()).is_some_and(|s| s.as_str() == "ACTIVE");
            if active {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    if options.feed_ttl_days > 0 {
        let spec = TimeToLiveSpecification::builder().enabled(true).attribute_name(TTL).build()?;
        client.update_time_to_live().table_name(&options.feeds_table).time_to_live_specification(spec).send().await?;
    }
    Ok(())
}
