//! The HTTP API (API Gateway v2): one Lambda proxy integration with payload format 2.0, the
//! `$default` route, the `$default` stage with auto-deploy and throttling, and the permission
//! that lets this API, and only it, invoke the function.

use aws_sdk_apigatewayv2::types::{Api, ProtocolType};

use crate::apigateway::{self, InvokePermission, Layout};
use crate::context::Context;
use crate::error::Error;
use crate::report::ResourceReport;
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

impl HttpApi {
    fn of(api: &Api) -> Self {
        Self {
            api_id: api.api_id().unwrap_or_default().to_owned(),
            endpoint: api.api_endpoint().unwrap_or_default().to_owned(),
        }
    }
}

/// Creates or repairs the API; returns its report and what later steps need (`None` in a dry run
/// of a new one).
pub async fn deploy(cx: &Context<'_>) -> Result<(ResourceReport, Option<HttpApi>), Error> {
    let (gw, name) = (&cx.aws.apigateway, &cx.names.http_api);
    let create = || async {
        let created =
            gw.create_api().name(name).protocol_type(ProtocolType::Http).tags(TAG_KEY, cx.names.stack.as_str());
        let created = created.send().await.map_err(|e| Error::aws("apigateway:CreateApi", name, e))?;
        Ok(Api::builder()
            .set_api_id(created.api_id)
            .set_api_endpoint(created.api_endpoint)
            .name(name)
            .protocol_type(ProtocolType::Http)
            .route_selection_expression("${request.method} ${request.path}")
            .build())
    };
    let (report, api) = apigateway::deploy(cx, KIND, name, &layout(cx), create).await?;
    Ok((report, api.as_ref().map(HttpApi::of)))
}

/// The permission that lets this API (by id; empty when there is none yet) invoke the function.
pub fn permission<'a>(cx: &'a Context<'_>, api_id: Option<&'a str>) -> InvokePermission<'a> {
    InvokePermission { kind: PERMISSION_KIND, sid: &cx.names.invoke_permission, api_id: api_id.unwrap_or_default() }
}

/// The API's report, and its id and endpoint when it is the stack's.
pub async fn status(cx: &Context<'_>) -> Result<(ResourceReport, Option<HttpApi>), Error> {
    let (report, api) = apigateway::status(cx, KIND, &cx.names.http_api, &layout(cx)).await?;
    Ok((report, api.as_ref().map(HttpApi::of)))
}

/// Deletes the API (its integration, route and stage go with it). The permission lives in the
/// function's policy and goes with the function.
pub async fn destroy(cx: &Context<'_>) -> Result<ResourceReport, Error> {
    apigateway::destroy(cx, KIND, &cx.names.http_api).await
}
