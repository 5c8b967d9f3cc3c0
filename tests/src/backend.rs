use std::any::Any;
use std::sync::Arc;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use runtime::store::Store;
use runtime::store::dynamodb::{DynamoOptions, DynamoStore, schema};
use runtime::store::embedded::{EmbeddedOptions, EmbeddedStore};

pub use testkit::emulators::*;

/// A store under test, with whatever must outlive it (a temporary directory, say).
pub struct Backend {
    pub store: Arc<dyn Store>,
    /// The DynamoDB store itself, for the tests that read its request counters.
    pub dynamo: Option<Arc<DynamoStore>>,
    /// The chaos layer the store's requests pass through, if any.
    faults: Option<crate::chaos::Chaos>,
    _keep_alive: Box<dyn Any + Send + Sync>,
}

impl Backend {
    pub fn new(store: Arc<dyn Store>, keep_alive: impl Any + Send + Sync) -> Self {
        Self { store, dynamo: None, faults: None, _keep_alive: Box::new(keep_alive) }
    }

    /// A fresh embedded store in a temporary directory that is removed afterwards.
    pub fn embedded() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store =
            EmbeddedStore::open(&dir.path().join("test.redb"), &EmbeddedOptions::default()).expect("open store");
        Self::new(Arc::new(store), dir)
    }

    /// A DynamoDB store on fresh tables of the emulator that `cargo xtask test` started. Without
    /// an emulator the test is skipped, loudly, except under `CI=true`, where it fails.
    pub async fn dynamodb() -> Option<Self> {
        Self::dynamodb_limited(runtime::domain::RuleLimits::OFF).await
    }

    /// As [`Backend::dynamodb`], counting the shared `limits`.
    pub async fn dynamodb_limited(limits: runtime::domain::RuleLimits) -> Option<Self> {
        let endpoint = emulator_endpoint()?;
        let options = fresh_tables().limited(limits);
        let client = emulator_client(&endpoint);
        schema::create_tables(&client, &options).await.expect("create tables on the emulator");
        let store = Arc::new(DynamoStore::new(client, options));
        Some(Self { store: store.clone(), dynamo: Some(store), faults: None, _keep_alive: Box::new(()) })
    }

    /// A DynamoDB store on fresh tables of the emulator at `endpoint`, reached through `chaos`
    /// (the tables are created directly), with the store's own client settings and `budget`.
    pub async fn dynamodb_through(
        endpoint: &str,
        chaos: crate::chaos::Chaos,
        budget: std::time::Duration,
    ) -> Option<Self> {
        let options = DynamoOptions { operation_budget: budget, ..fresh_tables() };
        schema::create_tables(&emulator_client(endpoint), &options).await.expect("create tables on the emulator");
        let store = Arc::new(DynamoStore::new(production_client(&chaos.url), options));
        Some(Self { store: store.clone(), dynamo: Some(store), faults: Some(chaos), _keep_alive: Box::new(()) })
    }

    /// Stops injecting faults, for a test to read the end state once every write has been
    /// answered: the chaos layer hides an item as a transaction still committing would, and a
    /// request the store gave up on may still be queued at the emulator after its send was retried
    /// and answered, so without this a final read could end a feed early where DynamoDB never would.
    pub fn settle(&self) {
        if let Some(chaos) = &self.faults {
            chaos.calm();
        }
    }
}

/// Table names no other test uses, so tests share one emulator without seeing each other.
pub fn fresh_tables() -> DynamoOptions {
    let run = uuid::Uuid::new_v4().simple().to_string();
    DynamoOptions {
        // The emulator answers one request at a time for every test running at once: far slower
        // under the suite's concurrency than DynamoDB. The budget itself is tested through the
        // chaos layer with the real value.
        operation_budget: EMULATOR_OPERATION_BUDGET,
        ..DynamoOptions::new(format!("entities-{run}"), format!("feeds-{run}"), 0)
    }
}

/// A client for the emulator with fixed test credentials: no AWS account, no environment needed.
/// The store's retry settings, but a long attempt timeout: the emulator serialises every test's
/// requests, and it ignores `ClientRequestToken`, so an attempt abandoned while it waits in line
/// would be applied twice.
pub fn emulator_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(std::time::Duration::from_secs(120))
        .build();
    client_with(endpoint, timeouts)
}

/// A client with the store's own retry and timeout settings, for the chaos layer (which answers
/// a repeated `ClientRequestToken` as DynamoDB does).
pub fn production_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    client_with(endpoint, DynamoStore::timeout_config(runtime::store::dynamodb::retry::OPERATION_BUDGET))
}

fn client_with(endpoint: &str, timeouts: aws_config::timeout::TimeoutConfig) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "emulator"))
        .endpoint_url(endpoint)
        .retry_config(DynamoStore::retry_config())
        .timeout_config(timeouts)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
