//! What an API of the stack holds, and making it so: one Lambda proxy integration with the
//! function, routes targeting it, and a stage with auto-deploy, the deployment's throttling (the
//! stage's and some routes' own) and, for the HTTP API, its access log.

use std::fmt;

use aws_sdk_apigatewayv2::operation::get_stage::GetStageOutput;
use aws_sdk_apigatewayv2::types::{AccessLogSettings, IntegrationType, RouteSettings};

use super::NOT_FOUND;
use crate::context::Context;
use crate::error::{Error, absent_as_none};
use crate::stack::TAG_KEY;

/// One difference from the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutChange {
    NoIntegration,
    Integration,
    NoRoute(&'static str),
    RouteTarget(&'static str),
    NoStage(&'static str),
    Stage,
}

impl fmt::Display for LayoutChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoIntegration => f.write_str("no integration"),
            Self::Integration => f.write_str("integration"),
            Self::NoRoute(key) => write!(f, "no {key} route"),
            Self::RouteTarget(key) => write!(f, "{key} route target"),
            Self::NoStage(stage) => write!(f, "no {stage} stage"),
            Self::Stage => f.write_str("stage throttling, auto-deploy or access log"),
        }
    }
}

/// The parts an API of the stack holds.
pub struct Layout {
    pub integration_uri: String,
    /// The integration's payload format, for HTTP APIs (WebSocket APIs have none to set).
    pub payload_format: Option<&'static str>,
    pub routes: &'static [&'static str],
    pub stage: &'static str,
    /// Routes throttled apart from the stage's default.
    pub route_throttles: Vec<Throttle>,
    /// Where and how the stage logs each request, if it does.
    pub access_log: Option<AccessLog>,
}

/// A route's own throttle.
pub struct Throttle {
    pub route: &'static str,
    pub rate: f64,
    pub burst: i32,
}

/// The stage's access log: the log group's ARN and the line's format.
pub struct AccessLog {
    pub destination: String,
    pub format: &'static str,
}

/// An API's parts as they are: each `None` when missing, with whether it is as it should be.
pub struct Parts {
    integration: Option<(String, bool)>,
    /// Route key, route id, and whether it targets the integration.
    routes: Vec<(String, String, bool)>,
    stage_ok: Option<bool>,
}

impl Layout {
    pub async fn observe(&self, cx: &Context<'_>, api_id: &str) -> Result<Parts, Error> {
        let gw = &cx.aws.apigateway;
        let integrations = gw.get_integrations().api_id(api_id).send().await;
        let integrations = integrations.map_err(|e| Error::aws("apigateway:GetIntegrations", api_id, e))?;
        let integration = integrations.items().first().map(|i| {
            let right = i.integration_type() == Some(&IntegrationType::AwsProxy)
                && i.integration_uri() == Some(self.integration_uri.as_str())
                && self.payload_format.is_none_or(|format| i.payload_format_version() == Some(format));
            (i.integration_id().unwrap_or_default().to_owned(), right)
        });
        let listed = gw.get_routes().api_id(api_id).send().await;
        let listed = listed.map_err(|e| Error::aws("apigateway:GetRoutes", api_id, e))?;
        let target = integration.as_ref().map(|(id, _)| format!("integrations/{id}"));
        let routes = listed
            .items()
            .iter()
            .filter(|r| r.route_key().is_some_and(|k| self.routes.contains(&k)))
            .map(|r| {
                let right = target.is_some() && r.target() == target.as_deref();
                (r.route_key().unwrap_or_default().to_owned(), r.route_id().unwrap_or_default().to_owned(), right)
            })
            .collect();
        let stage = gw.get_stage().api_id(api_id).stage_name(self.stage).send().await;
        let stage = absent_as_none(stage, NOT_FOUND, "apigateway:GetStage", api_id)?;
        let stage_ok = stage.map(|stage| self.stage_is_right(cx, &stage));
        Ok(Parts { integration, routes, stage_ok })
    }

    /// Auto-deploy, the stage's throttling, each route's own, and the access log where one is
    /// wanted.
    fn stage_is_right(&self, cx: &Context<'_>, stage: &GetStageOutput) -> bool {
        let same = |settings: Option<&RouteSettings>, rate: f64, burst: i32| {
            settings.and_then(|t| t.throttling_rate_limit()) == Some(rate)
                && settings.and_then(|t| t.throttling_burst_limit()) == Some(burst)
        };
        let routes = stage.route_settings();
        stage.auto_deploy() == Some(true)
            && same(stage.default_route_settings(), cx.settings.throttling_rate, cx.settings.throttling_burst)
            && self.route_throttles.iter().all(|t| same(routes.and_then(|r| r.get(t.route)), t.rate, t.burst))
            && self.access_log.as_ref().is_none_or(|want| {
                let found = stage.access_log_settings();
                found.and_then(|a| a.destination_arn()) == Some(want.destination.as_str())
                    && found.and_then(|a| a.format()) == Some(want.format)
            })
    }

    /// The stage's per-route throttles, as API Gateway takes them.
    fn route_settings(&self) -> std::collections::HashMap<String, RouteSettings> {
        let settings = |t: &Throttle| {
            RouteSettings::builder().throttling_rate_limit(t.rate).throttling_burst_limit(t.burst).build()
        };
        self.route_throttles.iter().map(|t| (t.route.to_owned(), settings(t))).collect()
    }

    fn access_log_settings(&self) -> Option<AccessLogSettings> {
        let log = self.access_log.as_ref()?;
        Some(AccessLogSettings::builder().destination_arn(&log.destination).format(log.format).build())
    }

    /// What differs from the layout.
    pub fn drift(&self, parts: &Parts) -> Vec<LayoutChange> {
        let mut changes = Vec::new();
        match parts.integration {
            None => changes.push(LayoutChange::NoIntegration),
            Some((_, false)) => changes.push(LayoutChange::Integration),
            _ => {}
        }
        for key in self.routes {
            match parts.routes.iter().find(|(k, _, _)| k == key) {
                None => changes.push(LayoutChange::NoRoute(key)),
                Some((_, _, false)) => changes.push(LayoutChange::RouteTarget(key)),
                _ => {}
            }
        }
        match parts.stage_ok {
            None => changes.push(LayoutChange::NoStage(self.stage)),
            Some(false) => changes.push(LayoutChange::Stage),
            _ => {}
        }
        changes
    }

    /// Creates or updates each part that is missing or not as it should be.
    pub async fn repair(&self, cx: &Context<'_>, api_id: &str, parts: &Parts) -> Result<(), Error> {
        let gw = &cx.aws.apigateway;
        let format = self.payload_format.map(str::to_owned);
        let integration_id = match &parts.integration {
            Some((id, true)) => id.clone(),
            Some((id, false)) => {
                let update = gw
                    .update_integration()
                    .api_id(api_id)
                    .integration_id(id)
                    .integration_type(IntegrationType::AwsProxy)
                    .integration_uri(&self.integration_uri)
                    .set_payload_format_version(format);
                update.send().await.map_err(|e| Error::aws("apigateway:UpdateIntegration", api_id, e))?;
                id.clone()
            }
            None => {
                let create = gw
                    .create_integration()
                    .api_id(api_id)
                    .integration_type(IntegrationType::AwsProxy)
                    .integration_uri(&self.integration_uri)
                    .set_payload_format_version(format);
                let created = create.send().await.map_err(|e| Error::aws("apigateway:CreateIntegration", api_id, e))?;
                created.integration_id().unwrap_or_default().to_owned()
            }
        };
        let target = format!("integrations/{integration_id}");
        for key in self.routes {
            match parts.routes.iter().find(|(k, _, _)| k == key) {
                Some((_, _, true)) => {}
                Some((_, id, false)) => {
                    let update = gw.update_route().api_id(api_id).route_id(id).target(&target);
                    update.send().await.map_err(|e| Error::aws("apigateway:UpdateRoute", api_id, e))?;
                }
                None => {
                    let create = gw.create_route().api_id(api_id).route_key(*key).target(&target);
                    create.send().await.map_err(|e| Error::aws("apigateway:CreateRoute", api_id, e))?;
                }
            }
        }
        let throttling = RouteSettings::builder()
            .throttling_rate_limit(cx.settings.throttling_rate)
            .throttling_burst_limit(cx.settings.throttling_burst)
            .build();
        match parts.stage_ok {
            Some(true) => {}
            Some(false) => {
                let update = gw
                    .update_stage()
                    .api_id(api_id)
                    .stage_name(self.stage)
                    .auto_deploy(true)
                    .default_route_settings(throttling)
                    .set_route_settings(Some(self.route_settings()).filter(|r| !r.is_empty()))
                    .set_access_log_settings(self.access_log_settings());
                update.send().await.map_err(|e| Error::aws("apigateway:UpdateStage", api_id, e))?;
            }
            None => {
                let create = gw
                    .create_stage()
                    .api_id(api_id)
                    .stage_name(self.stage)
                    .auto_deploy(true)
                    .default_route_settings(throttling)
                    .set_route_settings(Some(self.route_settings()).filter(|r| !r.is_empty()))
                    .set_access_log_settings(self.access_log_settings())
                    .tags(TAG_KEY, cx.names.stack.as_str());
                create.send().await.map_err(|e| Error::aws("apigateway:CreateStage", api_id, e))?;
            }
        }
        Ok(())
    }
}
