//! What the HTTP API and the WebSocket API share: finding the stack's API by name and tag, the
//! API as a [`Resource`] holding its [`Layout`] (integration, routes, stage), and the permission
//! in the function's policy that lets one API, and only it, invoke the function.

mod layout;
mod permission;

use aws_sdk_apigatewayv2::types::{Api, ProtocolType};

pub use self::layout::{AccessLog, Layout, LayoutChange, Parts, Throttle};
pub use self::permission::InvokePermission;
use crate::context::Context;
use crate::error::{Error, absent_as_none};
use crate::resource::{Observation, Resource};
use crate::stack::{TAG_KEY, is_ours};

pub const NOT_FOUND: &[&str] = &["NotFoundException", "ResourceNotFoundException"];

/// The stack's API named `name` (API names are not unique): the one with its tag; foreign if
/// only others' carry the name.
pub async fn find(cx: &Context<'_>, name: &str) -> Result<Observation<Api>, Error> {
    let mut token = None;
    let mut same_name = Vec::new();
    loop {
        let page = cx.aws.apigateway.get_apis().set_next_token(token).send().await;
        let page = page.map_err(|e| Error::aws("apigateway:GetApis", name, e))?;
        same_name.extend(page.items().iter().filter(|a| a.name() == Some(name)).cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let ours =
        |api: &Api| is_ours(&cx.names.stack, api.tags().into_iter().flatten().map(|(k, v)| (k.as_str(), v.as_str())));
    Ok(match same_name.iter().find(|a| ours(a)) {
        Some(api) => Observation::Ours(api.clone()),
        None if !same_name.is_empty() => Observation::Foreign,
        None => Observation::Absent,
    })
}

/// One of the stack's APIs: its name, protocol and layout.
pub struct StackApi {
    pub kind: &'static str,
    pub name: String,
    pub protocol: ProtocolType,
    /// How API Gateway picks a message's route (WebSocket APIs only).
    pub route_selection: Option<&'static str>,
    pub layout: Layout,
}

pub struct Observed {
    api: Api,
    parts: Parts,
}

impl Resource for StackApi {
    type Observed = Observed;
    type Change = LayoutChange;
    /// The API as AWS describes it (its id and endpoint).
    type Output = Api;

    fn kind(&self) -> &'static str {
        self.kind
    }

    fn name(&self, _cx: &Context<'_>) -> String {
        self.name.clone()
    }

    fn id(&self, _cx: &Context<'_>, observed: Option<&Observed>) -> String {
        observed.and_then(|o| o.api.api_id()).unwrap_or_default().to_owned()
    }

    fn deployed_id(&self, _cx: &Context<'_>, api: Option<&Api>) -> String {
        api.and_then(|a| a.api_id()).unwrap_or_default().to_owned()
    }

    async fn observe(&self, cx: &Context<'_>) -> Result<Observation<Observed>, Error> {
        Ok(match find(cx, &self.name).await? {
            Observation::Absent => Observation::Absent,
            Observation::Foreign => Observation::Foreign,
            Observation::Ours(api) => {
                let parts = self.layout.observe(cx, api.api_id().unwrap_or_default()).await?;
                Observation::Ours(Observed { api, parts })
            }
        })
    }

    fn drift(&self, _cx: &Context<'_>, observed: &Observed) -> Vec<LayoutChange> {
        self.layout.drift(&observed.parts)
    }

    fn output(&self, observed: &Observed) -> Api {
        observed.api.clone()
    }

    async fn create(&self, cx: &Context<'_>) -> Result<Api, Error> {
        let name = &self.name;
        let create = cx
            .aws
            .apigateway
            .create_api()
            .name(name)
            .protocol_type(self.protocol.clone())
            .set_route_selection_expression(self.route_selection.map(str::to_owned))
            .tags(TAG_KEY, cx.names.stack.as_str());
        let created = create.send().await.map_err(|e| Error::aws("apigateway:CreateApi", name, e))?;
        let api = Api::builder()
            .set_api_id(created.api_id)
            .set_api_endpoint(created.api_endpoint)
            .name(name)
            .protocol_type(self.protocol.clone())
            .set_route_selection_expression(created.route_selection_expression)
            .build();
        let api_id = api.api_id().unwrap_or_default();
        let parts = self.layout.observe(cx, api_id).await?;
        self.layout.repair(cx, api_id, &parts).await?;
        Ok(api)
    }

    async fn apply(&self, cx: &Context<'_>, observed: &Observed, _changes: &[LayoutChange]) -> Result<(), Error> {
        self.layout.repair(cx, observed.api.api_id().unwrap_or_default(), &observed.parts).await
    }

    /// Deletes the API, with its integration, routes and stage.
    async fn delete(&self, cx: &Context<'_>, observed: &Observed) -> Result<(), Error> {
        let api_id = observed.api.api_id().unwrap_or_default();
        let deleted = cx.aws.apigateway.delete_api().api_id(api_id).send().await;
        absent_as_none(deleted, NOT_FOUND, "apigateway:DeleteApi", api_id).map(drop)
    }
}
