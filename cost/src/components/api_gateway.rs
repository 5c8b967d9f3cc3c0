//! API Gateway: the HTTP API per request (or nothing behind a function URL), the WebSocket API
//! per connection minute and message.

use super::Tier;
use crate::format::{num, tiers_text};
use crate::inputs::tiered;
use crate::ledger::Ledger;

pub fn http(tier: &Tier<'_>, l: &mut Ledger) -> f64 {
    let p = tier.pricing;
    if tier.deployment.function_url {
        return l.put("API Gateway HTTP API", 0.0, "USD", "a function URL: no API Gateway charge".into());
    }
    let billable = (tier.traffic.requests - tier.free(p.free_tier.api_gateway_requests)).max(0.0);
    l.put(
        "API Gateway HTTP API",
        tiered(billable / 1e6, &p.api_gateway_http.per_million_requests),
        "USD",
        format!(
            "{} million requests (each under {} KB: one metered request) at {}",
            num(billable / 1e6),
            num(p.api_gateway_http.metered_kb),
            tiers_text(&p.api_gateway_http.per_million_requests, "per million")
        ),
    )
}

pub fn websocket(tier: &Tier<'_>, l: &mut Ledger) -> f64 {
    let (p, t) = (tier.pricing, tier.traffic);
    let ws = &p.api_gateway_websocket;
    let minutes = (t.connection_minutes - tier.free(p.free_tier.websocket_connection_minutes)).max(0.0);
    let messages = (t.websocket_messages - tier.free(p.free_tier.websocket_messages)).max(0.0);
    l.put(
        "API Gateway WebSocket API",
        minutes / 1e6 * ws.per_million_connection_minutes + tiered(messages / 1e6, &ws.per_million_messages),
        "USD",
        format!(
            "{} million connection minutes × ${} + {} million messages at {}",
            num(minutes / 1e6),
            num(ws.per_million_connection_minutes),
            num(messages / 1e6),
            tiers_text(&ws.per_million_messages, "per million")
        ),
    )
}
