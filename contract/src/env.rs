//! The runtime's environment variables: each setting of `config/default.toml` has one, and the
//! provisioner configures the deployed function through them ([`FunctionEnv`]).

use std::collections::HashMap;

/// Every `MESSAGING_*` variable the runtime reads, one per setting.
pub mod var {
    pub const CONFIG: &str = "MESSAGING_CONFIG";
    pub const LISTEN: &str = "MESSAGING_LISTEN";
    pub const DATA_DIR: &str = "MESSAGING_DATA_DIR";
    pub const TOKEN_KEY: &str = "MESSAGING_TOKEN_KEY";
    pub const SERVER_KEY: &str = "MESSAGING_SERVER_KEY";
    pub const AUTH_MODE: &str = "MESSAGING_AUTH_MODE";
    pub const ACCESS_TOKEN_TTL_SECS: &str = "MESSAGING_ACCESS_TOKEN_TTL_SECS";
    pub const REFRESH_TOKEN_TTL_DAYS: &str = "MESSAGING_REFRESH_TOKEN_TTL_DAYS";
    pub const JWT_JWKS_URL: &str = "MESSAGING_JWT_JWKS_URL";
    pub const JWT_HS256_SECRET: &str = "MESSAGING_JWT_HS256_SECRET";
    pub const JWT_ISSUER: &str = "MESSAGING_JWT_ISSUER";
    pub const JWT_AUDIENCE: &str = "MESSAGING_JWT_AUDIENCE";
    pub const JWT_NAME_CLAIM: &str = "MESSAGING_JWT_NAME_CLAIM";
    pub const JWT_LEEWAY_SECS: &str = "MESSAGING_JWT_LEEWAY_SECS";
    pub const MAX_GROUP_SIZE: &str = "MESSAGING_MAX_GROUP_SIZE";
    pub const CACHE_MB: &str = "MESSAGING_CACHE_MB";
    pub const RATE_LIMIT_PER_SECOND: &str = "MESSAGING_RATE_LIMIT_PER_SECOND";
    pub const RATE_LIMIT_BURST: &str = "MESSAGING_RATE_LIMIT_BURST";
    pub const HEADER_READ_TIMEOUT_SECS: &str = "MESSAGING_HEADER_READ_TIMEOUT_SECS";
    pub const BODY_READ_TIMEOUT_SECS: &str = "MESSAGING_BODY_READ_TIMEOUT_SECS";
    pub const IDLE_TIMEOUT_SECS: &str = "MESSAGING_IDLE_TIMEOUT_SECS";
    pub const MAX_CONNECTIONS: &str = "MESSAGING_MAX_CONNECTIONS";
    pub const LOG_FORMAT: &str = "MESSAGING_LOG_FORMAT";
    pub const STORE: &str = "MESSAGING_STORE";
    pub const DYNAMODB_ENDPOINT: &str = "MESSAGING_DYNAMODB_ENDPOINT";
    pub const ENTITIES_TABLE: &str = "MESSAGING_ENTITIES_TABLE";
    pub const FEEDS_TABLE: &str = "MESSAGING_FEEDS_TABLE";
    pub const FEED_TTL_DAYS: &str = "MESSAGING_FEED_TTL_DAYS";
    pub const DYNAMODB_BUDGET_SECS: &str = "MESSAGING_DYNAMODB_BUDGET_SECS";
    pub const STREAM_BUFFER: &str = "MESSAGING_STREAM_BUFFER";
    pub const STREAM_PING_SECS: &str = "MESSAGING_STREAM_PING_SECS";
    pub const STREAM_WRITE_TIMEOUT_SECS: &str = "MESSAGING_STREAM_WRITE_TIMEOUT_SECS";
    pub const PUSH_ENDPOINT: &str = "MESSAGING_PUSH_ENDPOINT";
    pub const PUSH_BUDGET_MS: &str = "MESSAGING_PUSH_BUDGET_MS";
}

/// The value of [`var::STORE`] that selects the DynamoDB store.
pub const STORE_DYNAMODB: &str = "dynamodb";

/// What the provisioner sets in the deployed function's environment; everything else keeps the
/// runtime's built-in default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionEnv {
    pub entities_table: String,
    pub feeds_table: String,
    /// Days feed entries are kept (0: forever).
    pub feed_ttl_days: u32,
    /// The token key, in the [`crate::token_key`] format.
    pub token_key: String,
    /// The WebSocket API stage's management endpoint, when push is deployed.
    pub push_endpoint: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} is '{value}', expected {expected}")]
    Invalid { name: &'static str, value: String, expected: &'static str },
}

impl FunctionEnv {
    /// The variables, as Lambda's `Environment.Variables` holds them. The store is always
    /// DynamoDB: a function instance has no disk that outlives it.
    pub fn to_vars(&self) -> HashMap<String, String> {
        let mut vars = HashMap::from([
            (var::STORE.to_owned(), STORE_DYNAMODB.to_owned()),
            (var::ENTITIES_TABLE.to_owned(), self.entities_table.clone()),
            (var::FEEDS_TABLE.to_owned(), self.feeds_table.clone()),
            (var::FEED_TTL_DAYS.to_owned(), self.feed_ttl_days.to_string()),
            (var::TOKEN_KEY.to_owned(), self.token_key.clone()),
        ]);
        if let Some(endpoint) = &self.push_endpoint {
            vars.insert(var::PUSH_ENDPOINT.to_owned(), endpoint.clone());
        }
        vars
    }

    /// Reads the variables back (what a deployed function has): the inverse of [`Self::to_vars`].
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, EnvError> {
        let get = |name: &'static str| vars.get(name).cloned().ok_or(EnvError::Missing(name));
        let store = get(var::STORE)?;
        if store != STORE_DYNAMODB {
            return Err(EnvError::Invalid { name: var::STORE, value: store, expected: "dynamodb" });
        }
        let days = get(var::FEED_TTL_DAYS)?;
        Ok(Self {
            entities_table: get(var::ENTITIES_TABLE)?,
            feeds_table: get(var::FEEDS_TABLE)?,
            feed_ttl_days: days.parse().map_err(|_| EnvError::Invalid {
                name: var::FEED_TTL_DAYS,
                value: days.clone(),
                expected: "a number of days",
            })?,
            token_key: get(var::TOKEN_KEY)?,
            push_endpoint: vars.get(var::PUSH_ENDPOINT).cloned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variables_read_back_to_the_same_environment() {
        let env = FunctionEnv {
            entities_table: "s-entities".into(),
            feeds_table: "s-feeds".into(),
            feed_ttl_days: 30,
            token_key: "00".repeat(32),
            push_endpoint: Some("https://x.execute-api.us-east-1.amazonaws.com/live".into()),
        };
        assert_eq!(FunctionEnv::from_vars(&env.to_vars()), Ok(env.clone()));
        let without_push = FunctionEnv { push_endpoint: None, ..env };
        assert_eq!(without_push.to_vars().len(), 5);
        assert_eq!(FunctionEnv::from_vars(&without_push.to_vars()), Ok(without_push.clone()));
        let mut embedded = without_push.to_vars();
        embedded.insert(var::STORE.into(), "embedded".into());
        assert!(matches!(FunctionEnv::from_vars(&embedded), Err(EnvError::Invalid { name: var::STORE, .. })));
        let mut missing = without_push.to_vars();
        missing.remove(var::TOKEN_KEY);
        assert_eq!(FunctionEnv::from_vars(&missing), Err(EnvError::Missing(var::TOKEN_KEY)));
    }
}
