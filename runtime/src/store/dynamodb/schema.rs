//! The two tables: their keys are the contract's (`contract::tables`, which the provisioner
//! deploys too); the items in them are this store's, as below. Used by the tests against the
//! emulator and by `runtime create-tables`.
//!
//! | table | partition key | sort key | items |
//! |---|---|---|---|
//! | entities | `pk` (S) | `sk` (S) | `U#<user>`/`profile`: name · `U#<user>`/`block#<target>` · `G#<group>`/`group`: name, owner, members (L), version · `U#<sender>`/`sent#<client_id>`: message, chunks, done · `U#<sender>`/`recipients#<client_id>`: recipients (L) · `G#<group>`/`pending#<message>`: a multi-chunk send still being delivered |
//! | feeds | `user` (S) | `seq` (N) | `seq = 0`: head (N) · `seq ≥ 1`: message (S, API JSON), at (N, ms), ttl (N, optional) |
//!
//! The entities table also holds WebSocket connection records (`C#<connection>`/`connection`,
//! `U#<user>`/`connections`; see `connections.rs`), the only entities that expire.
//!
//! Both on-demand; TTL on `ttl` of the entities table always (connection records), and of the
//! feeds table when retention is configured.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters as _;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{BillingMode, TimeToLiveSpecification};
pub use contract::tables::{PK, SEQ, SK, TTL, TableSpec, USER};

use super::DynamoOptions;

/// Both tables, named by `options`, as the contract defines them.
pub fn tables(options: &DynamoOptions) -> [TableSpec; 2] {
    contract::tables::tables(&options.entities_table, &options.feeds_table, options.feed_ttl_days)
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
                return Err(anyhow::anyhow!("creating table {name}: {}", DisplayErrorContext(error)));
            }
        }
        // Until it is ACTIVE, by the SDK's waiter; a table that does not get there is an error.
        client
            .wait_until_table_exists()
            .table_name(name)
            .wait(std::time::Duration::from_secs(60))
            .await
            .map_err(|e| anyhow::anyhow!("table {name} did not become active: {}", DisplayErrorContext(e)))?;
        if let Some(attribute) = table.ttl_attribute {
            let spec = TimeToLiveSpecification::builder().enabled(true).attribute_name(attribute).build()?;
            client.update_time_to_live().table_name(name).time_to_live_specification(spec).send().await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    /// Every DynamoDB operation the store's code calls, mapped to the IAM action it needs: a new
    /// kind of request without its action in the contract's list would be denied on AWS. Every
    /// source file of this store is read, so a new one cannot slip past.
    #[test]
    fn the_iam_actions_cover_every_request_the_store_makes() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/dynamodb");
        let mut sources = String::new();
        let mut files = 0;
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") && path.file_name() != Some("schema.rs".as_ref()) {
                sources.push_str(&std::fs::read_to_string(&path).unwrap());
                files += 1;
            }
        }
        assert!(files >= 8, "read {files} files of {}", folder.display());
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
        assert_eq!(needed, contract::iam::DYNAMODB_ACTIONS);
    }
}
