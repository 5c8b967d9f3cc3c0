//! What every resource step works with: the clients, the names, the settings, and the ARNs the
//! resources refer to each other by.

use serde_json::Value;

use crate::aws::Aws;
use crate::error::Error;
use crate::report::Outcome;
use crate::settings::DeploySettings;
use crate::stack::Names;

pub struct Context<'a> {
    pub aws: &'a Aws,
    pub names: &'a Names,
    pub settings: &'a DeploySettings,
    /// Observe and report, change nothing.
    pub dry_run: bool,
    /// The WebSocket API's id, once known: the function pushes to it, and the role may post to
    /// its connections and no others'.
    pub websocket_api: Option<String>,
}

impl Context<'_> {
    pub fn function_arn(&self) -> String {
        self.aws.arn("lambda", &format!("function:{}", self.names.function))
    }

    pub fn table_arn(&self, table: &str) -> String {
        self.aws.arn("dynamodb", &format!("table/{table}"))
    }

    pub fn log_group_arn(&self) -> String {
        self.log_group_arn_of(&self.names.log_group)
    }

    pub fn log_group_arn_of(&self, name: &str) -> String {
        self.aws.arn("logs", &format!("log-group:{name}"))
    }

    /// The key ring's secret: Secrets Manager appends six random characters to the name in its
    /// ARN, which this pattern matches, and nothing else (User Guide, "Secrets Manager resource
    /// ARNs in IAM policies").
    pub fn key_ring_secret_arn_pattern(&self) -> String {
        self.aws.arn("secretsmanager", &format!("secret:{}-??????", self.names.key_ring_secret))
    }

    /// IAM is global: its ARNs have no region.
    pub fn role_arn(&self) -> String {
        self.aws.account.arn("iam", "", &format!("role/{}", self.names.role))
    }

    pub fn boundary_arn(&self) -> String {
        self.aws.account.arn("iam", "", &format!("policy/{}", self.names.boundary))
    }

    /// This context with the WebSocket API's id known.
    pub fn with_websocket_api(&self, api_id: Option<String>) -> Self {
        Context {
            aws: self.aws,
            names: self.names,
            settings: self.settings,
            dry_run: self.dry_run,
            websocket_api: api_id,
        }
    }

    /// The stage's management endpoint, where the function posts to connections.
    pub fn push_endpoint(&self) -> Option<String> {
        self.stage_url("https")
    }

    /// Where clients connect to the WebSocket API.
    pub fn stream_endpoint(&self) -> Option<String> {
        self.stage_url("wss")
    }

    fn stage_url(&self, scheme: &str) -> Option<String> {
        let api = self.websocket_api.as_ref()?;
        let suffix = dns_suffix(&self.aws.account.partition);
        Some(format!("{scheme}://{api}.execute-api.{}.{suffix}/{}", self.aws.region, crate::websocket_api::STAGE))
    }

    /// Posting to the connections of the stage (push) and deleting them (sign-out, erase), and
    /// nothing else: `execute-api:ManageConnections` is authorised per method and path (API
    /// Gateway Developer Guide, "Use IAM authorization" for WebSocket APIs' `@connections`).
    pub fn manage_connections_arns(&self) -> Option<[String; 2]> {
        let api = self.websocket_api.as_ref()?;
        let stage = crate::websocket_api::STAGE;
        let arn = |method: &str| self.aws.arn("execute-api", &format!("{api}/{stage}/{method}/@connections/*"));
        Some([arn("POST"), arn("DELETE")])
    }

    pub fn foreign(&self, kind: &'static str, name: &str) -> Error {
        Error::Foreign { kind, name: name.to_owned(), stack: self.names.stack.to_string() }
    }

    /// The outcome for an existing resource: updated (or would be), or unchanged.
    pub fn changed_outcome(&self, changed: bool) -> Outcome {
        match (changed, self.dry_run) {
            (false, _) => Outcome::Unchanged,
            (true, true) => Outcome::WouldUpdate,
            (true, false) => Outcome::Updated,
        }
    }
}

/// The domain of a partition's endpoints (the partition metadata the AWS SDK's endpoint resolver
/// carries: `dnsSuffix`): China's and the European Sovereign Cloud's differ from the rest.
pub fn dns_suffix(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "amazonaws.com.cn",
        "aws-eusc" => "amazonaws.eu",
        "aws-iso" => "c2s.ic.gov",
        "aws-iso-b" => "sc2s.sgov.gov",
        "aws-iso-e" => "cloud.adc-e.uk",
        "aws-iso-f" => "csp.hci.ic.gov",
        _ => "amazonaws.com",
    }
}

/// Whether a policy document read back from AWS says the same as `want`, whatever its spacing,
/// key order or URL encoding (IAM returns documents URL-encoded).
pub fn same_json(text: Option<&str>, want: &Value) -> bool {
    let Some(text) = text else { return false };
    let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    serde_json::from_str::<Value>(&decoded).ok().or_else(|| serde_json::from_str(text).ok()).as_ref() == Some(want)
}

#[cfg(test)]
mod tests {
    use super::dns_suffix;

    #[test]
    fn endpoints_take_their_domain_from_the_partition() {
        assert_eq!(dns_suffix("aws"), "amazonaws.com");
        assert_eq!(dns_suffix("aws-us-gov"), "amazonaws.com");
        assert_eq!(dns_suffix("aws-cn"), "amazonaws.com.cn");
        assert_eq!(dns_suffix("aws-eusc"), "amazonaws.eu");
    }
}
