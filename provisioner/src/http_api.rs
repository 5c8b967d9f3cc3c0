//! The HTTP API (API Gateway v2): one Lambda proxy integration with payload format 2.0, the
//! `$default` route, the `$default` stage with auto-deploy and throttling, and the permission
//! that lets this API, and only it, invoke the function.

use aws_sdk_apigatewayv2::types::{Api, ProtocolType};

use crate::apigateway::{self, InvokePermission, Layout};
use crate::context::Context;
use crate::error::Error;
use crate::report::{Outcome, ResourceReport};
use crate::resource::Observation;
use crate::stack::TAG_KEY;

pub const KIND: &str = "http api";
pub const PERMISSION_KIND: &str = "invoke permission";
const DEFAULT: &str = "$default";
const PAYLOAD_FORMAT: &str = "2.0";

/// The integration (the function by ARN, payload 2.0), the `$default` route and stage.
fn layout(cx: &Context<'_>) -> Layout<'static> {
    Layout {
        integration_uri: cx.function_arn(),
        payload_format: Some(PAYLOAD_FORMAT),
        routes: &[DEFAULT],
        stage: DEFAULT,
    }
}

/// The API as later steps need it: its id (for the invoke permission) and its endpoint.
pub struct HttpApi {
    pub api_id: String,
    pub endpoint: String,
}

/// Creates or repairs the API; returns its report and what later steps need (both empty in a dry
/// run of a new one).
pub async fn deploy(cx: &Context<'_>) -> Result<(ResourceReport, Option<HttpApi>), Error> {
    let (gw, name) = (&cx.aws.apigateway, &cx.names.http_api);
    let (api, outcome) = match apigateway::find(cx, name).await? {
        Observation::Ours(api) => (api, None),
        Observation::Foreign => return Err(cx.foreign(KIND, name)),
        Observation::Absent if cx.dry_run => {
            let nothing = HttpApi { api_id: String::new(), endpoint: String::new() };
            return Ok((ResourceReport::new(KIND, name, Outcome::WouldCreate), Some(nothing)));
        }
        Observation::Absent => {
            let created =
                gw.create_api().name(name).protocol_type(ProtocolType::Http).tags(TAG_KEY, cx.names.stack.as_str());
            let created = created.send().await.map_err(|e| Error::aws("apigateway:CreateApi", name, e))?;
            let api = Api::builder()
                .set_api_id(created.api_id)
                .set_api_endpoint(created.api_endpoint)
                .name(name)
                .protocol_type(ProtocolType::Http)
                .route_selection_expression("${request.method} ${request.path}")
                .build();
            (api, Some(Outcome::Created))
        }
    };
    let api_id = api.api_id().unwrap_or_default().to_owned();
    let changes = layout(cx).converge(cx, &api_id).await?;
    let outcome = outcome.unwrap_or_else(|| cx.changed_outcome(!changes.is_empty()));
    let changes = if outcome == Outcome::Created { Vec::new() } else { changes };
    let endpoint = api.api_endpoint().unwrap_or_default().to_owned();
    Ok((
        ResourceReport::new(KIND, name, outcome).id(api_id.clone()).changes(changes),
        Some(HttpApi { api_id, endpoint }),
    ))
}

/// The permission that lets this API (by id; empty when there is none yet) invoke the function.
pub fn permission<'a>(cx: &'a Context<'_>, api_id: Option<&'a str>) -> InvokePermission<'a> {
    InvokePermission { kind: PERMISSION_KIND, sid: &cx.names.invoke_permission, api_id: api_id.unwrap_or_default() }
}

/// The API's report, and its id and endpoint when it is the stack's.
pub async fn status(cx: &Context<'_>) -> Result<(ResourceReport, Option<HttpApi>), Error> {
    let name = &cx.names.http_api;
    let api = match apigateway::find(cx, name).await? {
        Observation::Foreign => return Ok((ResourceReport::new(KIND, name, Outcome::Foreign), None)),
        Observation::Absent => return Ok((ResourceReport::new(KIND, name, Outcome::Missing), None)),
        Observation::Ours(api) => api,
    };
    let api_id = api.api_id().unwrap_or_default().to_owned();
    let layout = layout(cx);
    let changes = layout.drift(&layout.observe(cx, &api_id).await?);
    let outcome = if changes.is_empty() { Outcome::Present } else { Outcome::Drifted };
    let report = ResourceReport::new(KIND, name, outcome).id(api_id.clone()).changes(changes);
    Ok((report, Some(HttpApi { api_id, endpoint: api.api_endpoint().unwrap_or_default().to_owned() })))
}

/// Deletes the API (its integration, route and stage go with it). The permission lives in the
/// function's policy and goes with the function.
pub async fn destroy(cx: &Context<'_>) -> Result<ResourceReport, Error> {
    apigateway::destroy(cx, KIND, &cx.names.http_api).await
}
