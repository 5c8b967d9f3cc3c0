//! The stack: the name every resource of one deployment starts with, and the tag that marks a
//! resource as the stack's own.

pub use contract::deploy::StackName;

/// The tag key every resource of a stack carries; its value is the stack name.
pub const TAG_KEY: &str = "messaging:stack";

/// The name of every resource of a stack, each starting with the stack name.
#[derive(Clone, Debug)]
pub struct Names {
    pub stack: StackName,
    pub repository: String,
    pub role: String,
    pub role_policy: String,
    /// The managed policy that caps what the role may do.
    pub boundary: String,
    pub entities_table: String,
    pub feeds_table: String,
    pub log_group: String,
    /// The HTTP API stage's access log.
    pub access_log_group: String,
    /// The Secrets Manager secret of the key ring and the server key.
    pub key_ring_secret: String,
    pub function: String,
    pub http_api: String,
    /// The statement id of the permission that lets the HTTP API invoke the function.
    pub invoke_permission: String,
    pub websocket_api: String,
    /// The statement id of the permission that lets the WebSocket API invoke the function.
    pub websocket_permission: String,
}

impl Names {
    pub fn new(stack: &StackName) -> Self {
        let s = stack.as_str();
        Self {
            stack: stack.clone(),
            repository: format!("{s}-runtime"),
            role: format!("{s}-api-role"),
            role_policy: format!("{s}-api-data-and-logs"),
            boundary: format!("{s}-boundary"),
            entities_table: format!("{s}-entities"),
            feeds_table: format!("{s}-feeds"),
            log_group: format!("{s}-api-logs"),
            access_log_group: format!("{s}-access-logs"),
            key_ring_secret: format!("{s}-keys"),
            function: format!("{s}-api"),
            http_api: format!("{s}-http"),
            invoke_permission: format!("{s}-http-invoke"),
            websocket_api: format!("{s}-ws"),
            websocket_permission: format!("{s}-ws-invoke"),
        }
    }
}

/// Whether a resource's tags mark it as this stack's.
pub fn is_ours<'a>(stack: &StackName, mut tags: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
    tags.any(|(key, value)| key == TAG_KEY && value == stack.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_names_fit_every_service() {
        for good in ["a", "messaging", "chat-prod-2", &"a".repeat(32)] {
            let stack: StackName = good.parse().unwrap();
            let names = Names::new(&stack);
            assert!(names.role.len() <= 64 && names.function.len() <= 64, "{names:?}");
            for name in [&names.repository, &names.role, &names.function, &names.log_group, &names.feeds_table] {
                assert!(name.starts_with(good));
            }
        }
        for bad in ["", "Messaging", "1chat", "chat_prod", "chat-", "a--b", "ünï", "a b", &"a".repeat(33)] {
            let error = bad.parse::<StackName>().unwrap_err();
            assert!(error.to_string().contains("invalid stack name"), "{error}");
        }
    }
}
