//! The report's inputs: `config/pricing.toml`, `config/workload.toml` (each workload key
//! overridable by a flag) and the measured per-operation usage in `config/usage.toml`.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// One band of a tiered price: `price` per unit up to `up_to` units a month (cumulative).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    #[serde(default)]
    pub up_to: Option<f64>,
    pub price: f64,
}

/// What `quantity` units cost under `tiers`.
pub fn tiered(quantity: f64, tiers: &[Tier]) -> f64 {
    let (mut cost, mut below) = (0.0, 0.0);
    for tier in tiers {
        let top = tier.up_to.unwrap_or(f64::INFINITY);
        if quantity > below {
            cost += (quantity.min(top) - below) * tier.price;
        }
        below = top;
    }
    cost
}

macro_rules! section {
    ($name:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        #[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            pub source: String,
            pub checked: String,
            $(pub $field: $ty,)*
        }
    };
}

section!(ApiGateway { per_million_requests: Vec<Tier>, metered_kb: f64 });
section!(Lambda { per_million_requests: f64, x86_64_per_gb_second: Vec<Tier>, arm64_per_gb_second: Vec<Tier>, mb_per_vcpu: f64 });
section!(Dynamodb {
    per_million_read_units: f64,
    per_million_write_units: f64,
    storage_per_gb_month: f64,
    point_in_time_recovery_per_gb_month: f64,
    item_overhead_bytes: f64,
});
section!(WebSocketApi { per_million_messages: Vec<Tier>, per_million_connection_minutes: f64, metered_kb: f64 });
section!(Logs { ingestion_per_gb: f64, storage_per_gb_month: f64 });
section!(Transfer { per_gb: Vec<Tier> });
section!(Ecr { storage_per_gb_month: f64 });
section!(SecretsManager { per_secret_month: f64, per_10k_api_calls: f64 });
section!(FreeTier {
    api_gateway_requests: f64,
    lambda_requests: f64,
    lambda_gb_seconds: f64,
    dynamodb_storage_gb: f64,
    logs_ingestion_gb: f64,
    data_transfer_gb: f64,
    ecr_storage_gb: f64,
    websocket_messages: f64,
    websocket_connection_minutes: f64,
});

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    pub api_gateway_http: ApiGateway,
    pub api_gateway_websocket: WebSocketApi,
    pub lambda: Lambda,
    pub dynamodb: Dynamodb,
    pub cloudwatch_logs: Logs,
    pub data_transfer_out: Transfer,
    pub ecr: Ecr,
    pub secrets_manager: SecretsManager,
    pub free_tier: FreeTier,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub users: Vec<u64>,
    pub polls_per_user_per_minute: f64,
    pub messages_per_user_per_day: f64,
    pub group_share: f64,
    pub group_size: f64,
    pub text_bytes: f64,
    pub retention_days: f64,
    pub log_bytes_per_request: f64,
    pub default_log_bytes_per_request: f64,
    pub dynamodb_round_trip_ms: f64,
    pub response_header_bytes: f64,
    pub peak_factor: f64,
    pub image_bytes: f64,
    pub images_kept: f64,
    pub online_share: f64,
    pub connections_per_user_per_day: f64,
    pub keepalive_minutes: f64,
    pub sign_ins_per_user_per_month: f64,
    pub logouts_per_user_per_month: f64,
    pub inbox_reads_per_user_per_day: f64,
    pub history_pages_per_user_per_day: f64,
    pub read_marks_per_user_per_day: f64,
    pub access_token_ttl_secs: f64,
    pub environment_lifetime_hours: f64,
}

/// Reads a TOML file into `T`; any error names the file, and the key (a missing one by name, a
/// wrong one by its line).
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Input(format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| Error::Input(format!("{}: {}", path.display(), e.to_string().trim_end())))
}

/// The repository's pricing file, for the tests.
#[cfg(test)]
pub fn parse_pricing_for_tests() -> Pricing {
    toml::from_str(include_str!("../../config/pricing.toml")).expect("config/pricing.toml parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pricing_file_names_the_key() {
        let good = include_str!("../../config/pricing.toml");
        let missing = good.replace("per_million_write_units = 0.625\n", "");
        let error = toml::from_str::<Pricing>(&missing).unwrap_err().to_string();
        assert!(error.contains("per_million_write_units"), "{error}");
        let wrong = good.replace("ingestion_per_gb = 0.50", "ingestion_per_gb = \"cheap\"");
        let error = toml::from_str::<Pricing>(&wrong).unwrap_err().to_string();
        assert!(error.contains("ingestion_per_gb"), "{error}");
        let unknown = good.replace("metered_kb = 512", "metered_kb = 512\nmetred = 1");
        let error = toml::from_str::<Pricing>(&unknown).unwrap_err().to_string();
        assert!(error.contains("metred"), "{error}");
        let dir = std::env::temp_dir().join(format!("pricing-{}.toml", std::process::id()));
        std::fs::write(&dir, &missing).unwrap();
        let error = load::<Pricing>(&dir).unwrap_err().to_string();
        assert!(error.contains("per_million_write_units") && error.contains("pricing-"), "{error}");
        std::fs::remove_file(dir).unwrap();
    }
}
