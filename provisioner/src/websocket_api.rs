//! The WebSocket API (API Gateway v2) that pushes new messages to connected clients: one Lambda
//! proxy integration with the same function, the `$connect`, `$disconnect` and `$default` routes,
//! and the [`STAGE`] stage with auto-deploy and the HTTP API's throttling. Its id names the
//! function's push endpoint and the one API the role may post to connections of.

use aws_sdk_apigatewayv2::types::{Api, ProtocolType};

use crate::apigateway::{self, InvokePermission, Layout};
use crate::context::Context;
use crate::error::Error;
use crate::report::ResourceReport;
use crate::stack::TAG_KEY;

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

/// The integration, the three routes and the [`STAGE`] stage.
fn layout(cx: &Context<'_>) -> Layout<'static> {
    Layout { integration_uri: integration_uri(cx), payload_format: None, routes: &ROUTES, stage: STAGE }
}

/// Creates or repairs the API; returns its report and id (none in a dry run of a new one).
pub async fn deploy(cx: &Context<'_>) -> Result<(ResourceReport, Option<String>), Error> {
    let (gw, name) = (&cx.aws.apigateway, &cx.names.websocket_api);
    let create = || async {
        let created = gw
            .create_api()
            .name(name)
            .protocol_type(ProtocolType::Websocket)
            .route_selection_expression(ROUTE_SELECTION)
            .tags(TAG_KEY, cx.names.stack.as_str());
        let created = created.send().await.map_err(|e| Error::aws("apigateway:CreateApi", name, e))?;
        Ok(Api::builder().set_api_id(created.api_id).name(name).protocol_type(ProtocolType::Websocket).build())
    };
    let (report, api) = apigateway::deploy(cx, KIND, name, &layout(cx), create).await?;
    Ok((report, api.and_then(|api| api.api_id)))
}

/// The permission that lets this API (by id; empty when there is none yet) invoke the function.
pub fn permission<'a>(cx: &'a Context<'_>, api_id: Option<&'a str>) -> InvokePermission<'a> {
    InvokePermission { kind: PERMISSION_KIND, sid: &cx.names.websocket_permission, api_id: api_id.unwrap_or_default() }
}

/// The API's report and id (when it is the stack's).
pub async fn status(cx: &Context<'_>) -> Result<(ResourceReport, Option<String>), Error> {
    let (report, api) = apigateway::status(cx, KIND, &cx.names.websocket_api, &layout(cx)).await?;
    Ok((report, api.and_then(|api| api.api_id)))
}

/// Deletes the API (its integration, routes and stage go with it, and every open connection).
pub async fn destroy(cx: &Context<'_>) -> Result<ResourceReport, Error> {
    apigateway::destroy(cx, KIND, &cx.names.websocket_api).await
}
