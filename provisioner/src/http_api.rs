//! The HTTP API (API Gateway v2): one Lambda proxy integration with payload format 2.0, the
//! `$default` route and one route per unauthenticated route (each throttled on its own), the
//! `$default` stage with auto-deploy, throttling and the access log, and the permission that lets
//! this API, and only it, invoke the function.

use aws_sdk_apigatewayv2::types::ProtocolType;
use contract::edge::{ACCESS_LOG_FORMAT, UNAUTHENTICATED_ROUTES};

use crate::apigateway::{AccessLog, InvokePermission, Layout, StackApi, Throttle};
use crate::context::Context;

pub const KIND: &str = "http api";
pub const PERMISSION_KIND: &str = "invoke permission";
const DEFAULT: &str = "$default";
const PAYLOAD_FORMAT: &str = "2.0";
/// `$default` takes every request but the unauthenticated routes, which have their own.
const ROUTES: [&str; 1 + UNAUTHENTICATED_ROUTES.len()] =
    [DEFAULT, UNAUTHENTICATED_ROUTES[0], UNAUTHENTICATED_ROUTES[1], UNAUTHENTICATED_ROUTES[2]];

/// The API: the integration (the function by ARN, payload 2.0), the `$default` route and stage.
pub fn api(cx: &Context<'_>) -> StackApi {
    StackApi {
        kind: KIND,
        name: cx.names.http_api.clone(),
        protocol: ProtocolType::Http,
        route_selection: None,
        layout: Layout {
            integration_uri: cx.function_arn(),
            payload_format: Some(PAYLOAD_FORMAT),
            routes: &ROUTES,
            stage: DEFAULT,
            route_throttles: UNAUTHENTICATED_ROUTES
                .iter()
                .map(|&route| Throttle {
                    route,
                    rate: cx.settings.unauthenticated_throttling_rate,
                    burst: cx.settings.unauthenticated_throttling_burst,
                })
                .collect(),
            access_log: cx.settings.access_logs.then(|| AccessLog {
                destination: cx.log_group_arn_of(&cx.names.access_log_group),
                format: ACCESS_LOG_FORMAT,
            }),
        },
    }
}

/// The permission that lets this API (by id; empty when there is none yet) invoke the function.
/// It lives in the function's policy and goes with the function.
pub fn permission<'a>(cx: &'a Context<'_>, api_id: Option<&'a str>) -> InvokePermission<'a> {
    InvokePermission { kind: PERMISSION_KIND, sid: &cx.names.invoke_permission, api_id: api_id.unwrap_or_default() }
}
