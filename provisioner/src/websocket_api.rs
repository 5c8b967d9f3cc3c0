//! The WebSocket API (API Gateway v2) that pushes new messages to connected clients: one Lambda
//! proxy integration with the same function, the `$connect`, `$disconnect` and `$default` routes,
//! and the [`STAGE`] stage with auto-deploy and the HTTP API's throttling. Its id names the
//! function's push endpoint and the one API the role may post to connections of.

use aws_sdk_apigatewayv2::types::ProtocolType;

use crate::apigateway::{InvokePermission, Layout, StackApi};
use crate::context::Context;

pub const KIND: &str = "websocket api";
pub const PERMISSION_KIND: &str = "websocket invoke permission";
/// The stage clients connect to: `wss://{api}.execute-api.{region}.amazonaws.com/live`.
pub const STAGE: &str = "live";
pub const ROUTES: [&str; 3] = ["$connect", "$disconnect", "$default"];
/// Every message goes to `$default`, whatever its `action`: the function reads the action itself.
const ROUTE_SELECTION: &str = "$request.body.action";

/// How API Gateway invokes the function for a WebSocket API (a Lambda proxy integration takes
/// the invocation URI here, where an HTTP API takes the function's ARN).
fn integration_uri(cx: &Context<'_>) -> String {
    let (partition, region) = (&cx.aws.account.partition, &cx.aws.region);
    format!("arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/{}/invocations", cx.function_arn())
}

/// The API: the integration, the three routes and the [`STAGE`] stage.
pub fn api(cx: &Context<'_>) -> StackApi {
    StackApi {
        kind: KIND,
        name: cx.names.websocket_api.clone(),
        protocol: ProtocolType::Websocket,
        route_selection: Some(ROUTE_SELECTION),
        layout: Layout {
            integration_uri: integration_uri(cx),
            payload_format: None,
            routes: &ROUTES,
            stage: STAGE,
            route_throttles: Vec::new(),
            // WebSocket stages log through the account-wide API Gateway role, which a stack
            // does not set: see the README.
            access_log: None,
        },
    }
}

/// The permission that lets this API (by id; empty when there is none yet) invoke the function.
pub fn permission<'a>(cx: &'a Context<'_>, api_id: Option<&'a str>) -> InvokePermission<'a> {
    InvokePermission { kind: PERMISSION_KIND, sid: &cx.names.websocket_permission, api_id: api_id.unwrap_or_default() }
}
