//! The runtime's environment variables: each setting of `config/default.toml` has one, and the
//! provisioner configures the deployed function through them ([`FunctionEnv`]).

use std::collections::HashMap;

/// Every `MESSAGING_*` variable the runtime reads, one per setting.
pub mod var {
    pub const CONFIG: &str = "MESSAGING_CONFIG";
    pub const LISTEN: &str = "MESSAGING_LISTEN";
    pub const DATA_DIR: &str = "MESSAGING_DATA_DIR";
    pub const TOKEN_KEY: &str = "MESSAGING_TOKEN_KEY";
    pub const KEY_RING_SECRET: &str = "MESSAGING_KEY_RING_SECRET";
    pub const KEY_RING_VERSION: &str = "MESSAGING_KEY_RING_VERSION";
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
    pub const TRUSTED_PROXIES: &str = "MESSAGING_TRUSTED_PROXIES";
    pub const DEMO: &str = "MESSAGING_DEMO";
    pub const DEMO_DIR: &str = "MESSAGING_DEMO_DIR";
    /// `[limits]`: `MESSAGING_LIMITS_<RULE>`.
    pub const LIMITS_UNAUTHENTICATED_PER_IP: &str = "MESSAGING_LIMITS_UNAUTHENTICATED_PER_IP";
    pub const LIMITS_SENDS_PER_USER: &str = "MESSAGING_LIMITS_SENDS_PER_USER";
    pub const LIMITS_FANOUT_PER_USER: &str = "MESSAGING_LIMITS_FANOUT_PER_USER";
    pub const LIMITS_MEMBERSHIP_CHANGES_PER_USER: &str = "MESSAGING_LIMITS_MEMBERSHIP_CHANGES_PER_USER";
    pub const LIMITS_CONNECTS_PER_USER: &str = "MESSAGING_LIMITS_CONNECTS_PER_USER";
    pub const LIMITS_SOCKET_MESSAGES_PER_USER: &str = "MESSAGING_LIMITS_SOCKET_MESSAGES_PER_USER";
    pub const LIMITS_CONNECTIONS_PER_USER: &str = "MESSAGING_LIMITS_CONNECTIONS_PER_USER";
}

/// The value of [`var::STORE`] that selects the DynamoDB store.
pub const STORE_DYNAMODB: &str = "dynamodb";

/// What the provisioner sets in the deployed function's environment; everything else keeps the
/// runtime's built-in default. No secret is in it: the keys are in a Secrets Manager secret,
/// which only the function's role may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionEnv {
    pub entities_table: String,
    pub feeds_table: String,
    /// Days feed entries are kept (0: forever).
    pub feed_ttl_days: u32,
    /// The ARN of the secret holding the key ring ([`crate::key_ring`]).
    pub key_ring_secret: String,
    /// The secret's version the function reads: a rotation changes it, which makes Lambda
    /// replace every instance (each reads the ring once, at its cold start).
    pub key_ring_version: String,
    pub auth: FunctionAuth,
    /// The WebSocket API stage's management endpoint, when push is deployed.
    pub push_endpoint: Option<String>,
}

/// The sign-in settings a deployment sets (`config/deploy.toml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionAuth {
    /// `open` or `app`.
    pub auth_mode: String,
    pub access_token_ttl_secs: u64,
    /// Empty: not set.
    pub jwt_jwks_url: String,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub jwt_name_claim: String,
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
        let a = &self.auth;
        let mut vars = HashMap::from([
            (var::STORE.to_owned(), STORE_DYNAMODB.to_owned()),
            (var::ENTITIES_TABLE.to_owned(), self.entities_table.clone()),
            (var::FEEDS_TABLE.to_owned(), self.feeds_table.clone()),
            (var::FEED_TTL_DAYS.to_owned(), self.feed_ttl_days.to_string()),
            (var::KEY_RING_SECRET.to_owned(), self.key_ring_secret.clone()),
            (var::KEY_RING_VERSION.to_owned(), self.key_ring_version.clone()),
            (var::AUTH_MODE.to_owned(), a.auth_mode.clone()),
            (var::ACCESS_TOKEN_TTL_SECS.to_owned(), a.access_token_ttl_secs.to_string()),
            (var::JWT_NAME_CLAIM.to_owned(), a.jwt_name_claim.clone()),
        ]);
        for (name, value) in [
            (var::JWT_JWKS_URL, &a.jwt_jwks_url),
            (var::JWT_ISSUER, &a.jwt_issuer),
            (var::JWT_AUDIENCE, &a.jwt_audience),
        ] {
            if !value.is_empty() {
                vars.insert(name.to_owned(), value.clone());
            }
        }
        if let Some(endpoint) = &self.push_endpoint {
            vars.insert(var::PUSH_ENDPOINT.to_owned(), endpoint.clone());
        }
        vars
    }

    /// Reads the variables back (what a deployed function has): the inverse of [`Self::to_vars`].
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, EnvError> {
        let get = |name: &'static str| vars.get(name).cloned().ok_or(EnvError::Missing(name));
        let optional = |name: &'static str| vars.get(name).cloned().unwrap_or_default();
        let number = |name: &'static str, expected: &'static str| {
            let value = get(name)?;
            value.parse::<u64>().map_err(|_| EnvError::Invalid { name, value: value.clone(), expected })
        };
        let store = get(var::STORE)?;
        if store != STORE_DYNAMODB {
            return Err(EnvError::Invalid { name: var::STORE, value: store, expected: "dynamodb" });
        }
        let days = number(var::FEED_TTL_DAYS, "a number of days")?;
        Ok(Self {
            entities_table: get(var::ENTITIES_TABLE)?,
            feeds_table: get(var::FEEDS_TABLE)?,
            feed_ttl_days: u32::try_from(days).map_err(|_| EnvError::Invalid {
                name: var::FEED_TTL_DAYS,
                value: days.to_string(),
                expected: "a number of days",
            })?,
            key_ring_secret: get(var::KEY_RING_SECRET)?,
            key_ring_version: get(var::KEY_RING_VERSION)?,
            auth: FunctionAuth {
                auth_mode: get(var::AUTH_MODE)?,
                access_token_ttl_secs: number(var::ACCESS_TOKEN_TTL_SECS, "a number of seconds")?,
                jwt_jwks_url: optional(var::JWT_JWKS_URL),
                jwt_issuer: optional(var::JWT_ISSUER),
                jwt_audience: optional(var::JWT_AUDIENCE),
                jwt_name_claim: get(var::JWT_NAME_CLAIM)?,
            },
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
            key_ring_secret: "arn:aws:secretsmanager:us-east-1:1:secret:s-keys-AbCdEf".into(),
            key_ring_version: "v1".into(),
            auth: FunctionAuth {
                auth_mode: "app".into(),
                access_token_ttl_secs: 3600,
                jwt_jwks_url: "https://idp.example/jwks".into(),
                jwt_issuer: "https://idp.example/".into(),
                jwt_audience: "app".into(),
                jwt_name_claim: "name".into(),
            },
            push_endpoint: Some("https://x.execute-api.us-east-1.amazonaws.com/live".into()),
        };
        assert_eq!(FunctionEnv::from_vars(&env.to_vars()), Ok(env.clone()));
        let auth = FunctionAuth {
            jwt_jwks_url: String::new(),
            jwt_issuer: String::new(),
            jwt_audience: String::new(),
            ..env.auth.clone()
        };
        let plain = FunctionEnv { push_endpoint: None, auth, ..env };
        assert_eq!(plain.to_vars().len(), 9, "unset identity settings are left out");
        assert_eq!(FunctionEnv::from_vars(&plain.to_vars()), Ok(plain.clone()));
        let mut embedded = plain.to_vars();
        embedded.insert(var::STORE.into(), "embedded".into());
        assert!(matches!(FunctionEnv::from_vars(&embedded), Err(EnvError::Invalid { name: var::STORE, .. })));
        let mut missing = plain.to_vars();
        missing.remove(var::KEY_RING_SECRET);
        assert_eq!(FunctionEnv::from_vars(&missing), Err(EnvError::Missing(var::KEY_RING_SECRET)));
        assert!(!plain.to_vars().contains_key(var::TOKEN_KEY), "no key in the environment");
    }
}
