//! What API Gateway does in front of the function, named once for the provisioner that sets it
//! up, the runtime whose routes it names, and the cost model that prices it: the routes anyone may
//! call without a token, which get their own throttle, and the stage's access log line.

/// The HTTP API's routes that need no token (registration, the identity-token exchange, refresh),
/// as API Gateway route keys. Each gets a route of its own beside `$default`, so the stage can
/// throttle it apart from the rest: one address cannot spend the whole stage's rate on them. The
/// runtime's tests check each is a route of its OpenAPI document that asks for no token.
pub const UNAUTHENTICATED_ROUTES: [&str; 3] = ["POST /v1/users", "POST /v1/sessions", "POST /v1/sessions/refresh"];

/// The HTTP API stage's access log line: JSON, one per request, in API Gateway's logging
/// variables (Developer Guide, "Customizing HTTP API access logs").
pub const ACCESS_LOG_FORMAT: &str = concat!(
    r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","#,
    r#""time":"$context.requestTimeEpoch","route":"$context.routeKey","status":"$context.status","#,
    r#""latencyMs":"$context.responseLatency","bytes":"$context.responseLength"}"#
);

/// An access log line with typical values in place of the variables (a request id as API
/// Gateway makes them, an IPv4 address, a 25 ms answer of 350 bytes).
pub fn typical_access_log_line() -> String {
    let typical = [
        ("$context.requestId", "JqF-Nj_HoAMEb8A="),
        ("$context.identity.sourceIp", "203.0.113.200"),
        ("$context.requestTimeEpoch", "1764460800000"),
        ("$context.routeKey", "$default"),
        ("$context.status", "200"),
        ("$context.responseLatency", "25"),
        ("$context.responseLength", "350"),
    ];
    typical.iter().fold(ACCESS_LOG_FORMAT.to_owned(), |line, (variable, value)| line.replace(variable, value))
}

/// What one access log line costs to ingest, in bytes: the typical line and CloudWatch Logs'
/// metering of each event.
pub fn access_log_line_bytes() -> usize {
    typical_access_log_line().len() + CLOUDWATCH_EVENT_OVERHEAD_BYTES
}

/// CloudWatch Logs meters each event's message plus 26 bytes.
pub const CLOUDWATCH_EVENT_OVERHEAD_BYTES: usize = 26;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_typical_line_fills_every_variable_and_is_json() {
        let line = typical_access_log_line();
        assert!(!line.contains("$context"), "{line}");
        let parsed: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        for key in ["requestId", "ip", "time", "route", "status", "latencyMs", "bytes"] {
            assert!(parsed[key].is_string(), "{key} in {line}");
        }
    }
}
