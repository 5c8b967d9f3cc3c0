use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{admin, blocks, conversations, groups, messages, sessions, system, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "Messaging API", description = "Users, sessions, blocks, direct and group messages, a polled feed, and conversations (inbox, history, read positions); a server API for the app's backend."),
    paths(
        system::health, system::openapi_json,
        users::register, users::get_user,
        sessions::sign_in, sessions::refresh, sessions::logout, sessions::logout_everywhere,
        admin::upsert_user, admin::erase_user, admin::start_session, admin::revoke_sessions,
        blocks::block, blocks::unblock, blocks::list,
        groups::create, groups::show, groups::add_member, groups::remove_member,
        messages::send_direct, messages::send_group, messages::poll,
        conversations::inbox, conversations::show, conversations::history, conversations::mark_read,
    ),
    modifiers(&BearerAuth, &CommonErrors)
)]
struct ApiDoc;

/// The errors any operation of a kind can answer, added to every such operation so the
/// document lists each status a client can really see (schemathesis checks that it does).
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let too_large = format!("body larger than {} KiB", super::MAX_BODY_BYTES / 1024);
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_path_params = path.contains('{');
            let methods = [
                ("GET", &mut item.get),
                ("PUT", &mut item.put),
                ("POST", &mut item.post),
                ("DELETE", &mut item.delete),
            ];
            for (method, operation) in methods.into_iter().filter_map(|(m, o)| Some((m, o.as_mut()?))) {
                let mut common = Vec::new();
                let limited_by_source =
                    contract::edge::UNAUTHENTICATED_ROUTES.contains(&format!("{method} {path}").as_str());
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    common.push(("401", "missing or invalid bearer token"));
                }
                if limited_by_source || operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    common.push(("429", "rate_limited: retry after the Retry-After header's seconds"));
                }
                if operation.request_body.is_some() {
                    common.extend([
                        ("400", "malformed JSON, or a body that ended early"),
                        ("408", "the body was not received in time"),
                        ("413", too_large.as_str()),
                        ("422", "JSON of the wrong shape, or a field out of bounds"),
                    ]);
                }
                if has_path_params {
                    common.push(("400", "a path segment that is not valid percent-encoded UTF-8"));
                }
                if path.starts_with("/v1/") {
                    common.push(("503", "the store is unavailable: retry after the Retry-After header's seconds"));
                }
                for (status, description) in common {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(description));
                }
            }
        }
    }
}

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorBody"))))
        .build()
        .into()
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // The app backend's key, as a bearer token of its own kind (`sk_…`): the server API.
        components.add_security_scheme(
            "server_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("sk_").build()),
        );
    }
}

/// The OpenAPI 3 document for the whole API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    /// The routes API Gateway throttles apart as unauthenticated (`contract::edge`) are routes of
    /// this API that need no token, so a renamed route cannot slip out of its throttle unseen.
    #[test]
    fn the_unauthenticated_routes_of_the_edge_are_ours_and_need_no_token() {
        let document = serde_json::to_value(super::openapi()).unwrap();
        for route in contract::edge::UNAUTHENTICATED_ROUTES {
            let (method, path) = route.split_once(' ').unwrap();
            let operation = &document["paths"][path][method.to_lowercase()];
            assert!(operation.is_object(), "{route} is not in the OpenAPI document");
            let security = operation["security"].as_array();
            assert!(security.is_none_or(|s| s.is_empty()), "{route} asks for a token: {security:?}");
        }
        // And the check can fail: an authenticated route asks for one.
        let poll = &document["paths"]["/v1/messages"]["get"]["security"];
        assert!(poll.as_array().is_some_and(|s| !s.is_empty()), "{poll}");
    }

    /// OpenAPI requires each operationId to be unique, and generated clients name their
    /// functions and types by it (two `show`s once broke the TypeScript client's types).
    #[test]
    fn operation_ids_are_unique() {
        let document = serde_json::to_value(super::openapi()).unwrap();
        let mut seen = std::collections::HashSet::new();
        for (path, operations) in document["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no id"));
                assert!(seen.insert(id.to_owned()), "operationId {id} ({method} {path}) is not unique");
            }
        }
    }
}
