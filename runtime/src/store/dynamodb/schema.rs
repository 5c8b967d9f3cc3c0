//! The two tables, as code: used by the tests against the emulator, by `runtime create-tables`,
//! and as the reference for the provisioner.
//!
//! | table | partition key | sort key | items |
//! |---|---|---|---|
//! | entities | `pk` (S) | `sk` (S) | `U#<user>`/`profile`: name · `U#<user>`/`block#<target>` · `G#<group>`/`group`: name, owner, members (L), version · `U#<sender>`/`sent#<client_id>`: message, chunks, done · `U#<sender>`/`sent#<client_id>#to`: recipients (L) |
//! | feeds | `user` (S) | `seq` (N) | `seq = 0`: head (N) · `seq ≥ 1`: message (S, API JSON), at (N, ms), ttl (N, optional) |
//!
//! The entities table also holds WebSocket connection records (`C#<connection>`/`connection`,
//! `U#<user>`/`connections`; see `connections.rs`), the only entities that expire.
//!
//! Both on-demand; TTL on `ttl` of the entities table always (connection records), and of the
//! feeds table when retention is configured.

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

/// The IAM actions the store performs, for a least-privilege policy: every request it makes
/// (`GetItem`, `PutItem`, `DeleteItem`, `Query`, `BatchGetItem`) and every item action inside its
/// `TransactWriteItems` (`Put`, `Update`, `ConditionCheck`), which IAM authorises per item action
/// rather than as a `TransactWriteItems` action. A test below keeps the list in step with the code.
pub const IAM_ACTIONS: [&str; 7] = [
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
];

/// One table's definition: what `create-tables` creates and what the provisioner deploys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    /// Which of the two tables: `"entities"` or `"feeds"`.
    pub role: &'static str,
    pub name: String,
    pub partition_key: (&'static str, ScalarAttributeType),
    pub sort_key: (&'static str, ScalarAttributeType),
    /// The attribute DynamoDB's TTL expires items by, when retention is configured.
    pub ttl_attribute: Option<&'static str>,
}

impl TableSpec {
    pub fn key_schema(&self) -> Vec<KeySchemaElement> {
        vec![key(self.partition_key.0, KeyType::Hash), key(self.sort_key.0, KeyType::Range)]
    }

    pub fn attribute_definitions(&self) -> Vec<AttributeDefinition> {
        vec![
            attribute(self.partition_key.0, self.partition_key.1.clone()),
            attribute(self.sort_key.0, self.sort_key.1.clone()),
        ]
    }
}

/// Both tables, named by `options`. Of the entities, only connection records carry a `ttl`.
pub fn tables(options: &DynamoOptions) -> [TableSpec; 2] {
    let retention = (options.feed_ttl_days > 0).then_some(TTL);
    [
        TableSpec {
            role: "entities",
            name: options.entities_table.clone(),
            partition_key: (PK, ScalarAttributeType::S),
            sort_key: (SK, ScalarAttributeType::S),
            ttl_attribute: Some(TTL),
        },
        TableSpec {
            role: "feeds",
            name: options.feeds_table.clone(),
            partition_key: (USER, ScalarAttributeType::S),
            sort_key: (SEQ, ScalarAttributeType::N),
            ttl_attribute: retention,
        },
    ]
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().expect("complete key element")
}

fn attribute(name: &str, kind: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build().expect("complete attribute")
}

/// Creates both tables (on-demand) and waits until they are active; existing tables are kept.
pub async fn create_tables(client: &Client, options: &DynamoOptions) -> anyhow::Result<()> {
    for table in tables(options) {
        let name = &table.name;
        let created = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(table.key_schema()))
            .set_attribute_definitions(Some(table.attribute_definitions()))
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
        if let Some(attribute) = table.ttl_attribute {
            let spec = TimeToLiveSpecification::builder().enabled(true).attribute_name(attribute).build()?;
            client.update_time_to_live().table_name(name).time_to_live_specification(spec).send().await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every DynamoDB operation the store's code calls, mapped to the IAM action it needs: a new
    /// kind of request without its action in [`IAM_ACTIONS`] would be denied on AWS.
    #[test]
    fn the_iam_actions_cover_every_request_the_store_makes() {
        let sources = [include_str!("mod.rs"), include_str!("send.rs"), include_str!("groups.rs")].concat();
        let calls = [
            (".get_item()", "dynamodb:GetItem"),
            (".put_item()", "dynamodb:PutItem"),
            (".delete_item()", "dynamodb:DeleteItem"),
            (".update_item()", "dynamodb:UpdateItem"),
            (".query()", "dynamodb:Query"),
            (".scan()", "dynamodb:Scan"),
            (".batch_get_item()", "dynamodb:BatchGetItem"),
            (".batch_write_item()", "dynamodb:BatchWriteItem"),
            (".transact_get_items()", "dynamodb:GetItem"),
            ("Put::builder()", "dynamodb:PutItem"),
            ("Update::builder()", "dynamodb:UpdateItem"),
            ("Delete::builder()", "dynamodb:DeleteItem"),
            ("ConditionCheck::builder()", "dynamodb:ConditionCheckItem"),
        ];
        let mut needed: Vec<&str> = calls.iter().filter(|(call, _)| sources.contains(call)).map(|(_, a)| *a).collect();
        needed.sort_unstable();
        needed.dedup();
        assert_eq!(needed, IAM_ACTIONS);
    }
}
