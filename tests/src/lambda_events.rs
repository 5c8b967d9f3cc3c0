//! The shared Lambda harness ([`testkit::lambda_events`]), with a function's settings taken from
//! the DynamoDB store's options the tests create.

use runtime::store::dynamodb::DynamoOptions;
pub use testkit::lambda_events::*;

/// The environment a deployed function gets, for `tables` on the DynamoDB emulator at `dynamodb`.
pub fn function_settings(dynamodb: &str, tables: &DynamoOptions) -> Vec<(String, String)> {
    let tables = FunctionTables {
        entities_table: &tables.entities_table,
        feeds_table: &tables.feeds_table,
        feed_ttl_days: tables.feed_ttl_days,
        operation_budget: tables.operation_budget,
    };
    let mut settings = testkit::lambda_events::function_settings(dynamodb, &tables);
    // As every test process: the shared limits off unless a test sets one (pushed after these).
    settings.extend(crate::process::limits_off().into_iter().map(|(name, value)| (name.to_owned(), value.to_owned())));
    settings
}
