use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{blocks, groups, messages, system, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "Messaging API", description = "Users, blocks, direct and group messages, and a polled feed."),
    paths(
        system::health, system::openapi_json,
        users::register, users::get_user,
        blocks::block, blocks::unblock, blocks::list,
        groups::create, groups::show, groups::add_member, groups::remove_member,
        messages::send_direct, messages::send_group, messages::poll,
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI 3 document for the whole API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
