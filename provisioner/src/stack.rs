//! The stack: the name every resource of one deployment starts with, and the tag that marks a
//! resource as the stack's own.

use std::fmt;
use std::str::FromStr;

/// The tag key every resource of a stack carries; its value is the stack name.
pub const TAG_KEY: &str = "messaging:stack";

/// Longest stack name: the longest resource name built from it (`<stack>-api-role`, an IAM role,
/// at most 64 characters) must fit every service's limit with room to spare.
const MAX_LEN: usize = 32;

/// A stack name that every AWS service accepts inside its resource names: ECR repositories want
/// lower case, IAM roles and Lambda functions at most 64 characters, DynamoDB tables and log
/// groups a restricted alphabet. Lower-case letters, digits and single dashes, starting with a
/// letter, satisfy all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackName(String);

impl FromStr for StackName {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        let valid = (1..=MAX_LEN).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.ends_with('-')
            && !name.contains("--");
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(format!(
                "invalid stack name '{name}': use 1 to {MAX_LEN} lower-case letters, digits and single dashes, \
                 starting with a letter and not ending with a dash"
            ))
        }
    }
}

impl fmt::Display for StackName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StackName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of every resource of a stack, each starting with the stack name.
#[derive(Clone, Debug)]
pub struct Names {
    pub stack: StackName,
    pub repository: String,
    pub role: String,
    pub role_policy: String,
    pub entities_table: String,
    pub feeds_table: String,
    pub log_group: String,
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
            entities_table: format!("{s}-entities"),
            feeds_table: format!("{s}-feeds"),
            log_group: format!("{s}-api-logs"),
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
            assert!(error.contains("invalid stack name"), "{error}");
        }
    }
}
