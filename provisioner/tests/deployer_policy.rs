//! The documented deployer policy (`config/deployer-policy.json`) against every AWS call of a
//! whole lifecycle. moto cannot check it: its IAM enforcement matches resources only for S3, and
//! its signature check fails for Lambda and API Gateway v2. So every request is recorded at the
//! wire, mapped to the IAM action and resource AWS authorizes it as — with the actions AWS
//! requires implicitly ("Actions, resources, and condition keys" of each service, and the API
//! references: `lambda:ListTags` for `GetFunction`'s tags, `iam:PassRole` for a function's role)
//! — and each must be allowed by a statement of the policy, resource and condition included.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use support::*;
use testkit::proxy::{Method, Recorded};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// One authorization: an action on a resource, with the condition keys AWS sets for it.
#[derive(Debug)]
struct Call {
    action: String,
    resource: String,
    context: BTreeMap<&'static str, String>,
}

fn call(action: impl Into<String>, resource: impl Into<String>) -> Call {
    Call { action: action.into(), resource: resource.into(), context: BTreeMap::new() }
}

fn arn(service: &str, resource: &str) -> String {
    format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}")
}

/// The form body of a query-protocol request (IAM, STS), decoded.
fn form(body: &[u8]) -> BTreeMap<String, String> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(&v.replace('+', " "))))
        .collect()
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// What AWS authorizes `request` as: one action or more (an implicit one beside it). `boundaries`
/// follows each role's permissions boundary through the lifecycle, as IAM checks it.
fn authorizations(request: &Recorded, boundaries: &mut BTreeMap<String, String>) -> Vec<Call> {
    let mut calls = explicit(request);
    if request.service == "iam" {
        with_boundary(request, &mut calls, boundaries);
    }
    // Creating a resource with tags needs the service's tagging action on it too ("tag on
    // create": each service's Actions table lists it as a dependent action of its create call).
    if let Some((tagging, resource)) = tagged_on_create(request, &calls) {
        calls.push(call(tagging, resource));
    }
    // A stage with an access log has API Gateway set up CloudWatch Logs' delivery as the caller
    // (Developer Guide, "Configuring logging for an HTTP API" → permissions to activate logging);
    // those actions take no resource but `*`.
    let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
    if request.service == "apigateway" && !body["accessLogSettings"].is_null() {
        calls.extend(LOG_DELIVERY.iter().map(|action| call(*action, "*")));
    }
    calls
}

const LOG_DELIVERY: [&str; 7] = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
];

/// The tagging action a create call with tags also needs, on the resource it creates.
fn tagged_on_create(request: &Recorded, calls: &[Call]) -> Option<(&'static str, String)> {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let has = |name: &str| body.get(name).is_some_and(|tags| !tags.is_null());
    let first = calls.first()?;
    let tagging = match first.action.as_str() {
        "dynamodb:CreateTable" if has("Tags") => "dynamodb:TagResource",
        "ecr:CreateRepository" if has("tags") => "ecr:TagResource",
        "secretsmanager:CreateSecret" if has("Tags") => "secretsmanager:TagResource",
        "logs:CreateLogGroup" if has("tags") => "logs:TagResource",
        "lambda:CreateFunction" if has("Tags") => "lambda:TagResource",
        "apigateway:POST" if request.path.starts_with("/v2/apis") && has("tags") => "apigateway:TagResource",
        "iam:CreateRole" if form(&request.body).keys().any(|k| k.starts_with("Tags.")) => "iam:TagRole",
        "iam:CreatePolicy" if form(&request.body).keys().any(|k| k.starts_with("Tags.")) => "iam:TagPolicy",
        _ => return None,
    };
    Some((tagging, first.resource.clone()))
}

/// The action a request names, and the ones AWS derives from its parameters.
fn explicit(request: &Recorded) -> Vec<Call> {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
    let operation = request.operation.clone();
    match request.service.as_str() {
        "dynamodb" => {
            let resource = match operation.as_str() {
                "ListTagsOfResource" | "TagResource" => field("ResourceArn"),
                _ => arn("dynamodb", &format!("table/{}", field("TableName"))),
            };
            vec![call(format!("dynamodb:{operation}"), resource)]
        }
        "ecr" => {
            let resource = match operation.as_str() {
                "ListTagsForResource" | "TagResource" => field("resourceArn"),
                "DescribeRepositories" => {
                    let name = body["repositoryNames"][0].as_str().unwrap_or_default();
                    arn("ecr", &format!("repository/{name}"))
                }
                _ => arn("ecr", &format!("repository/{}", field("repositoryName"))),
            };
            vec![call(format!("ecr:{operation}"), resource)]
        }
        "secretsmanager" => {
            let id = if operation == "CreateSecret" { field("Name") } else { field("SecretId") };
            let resource =
                if id.starts_with("arn:") { id } else { arn("secretsmanager", &format!("secret:{id}-AbCdEf")) };
            vec![call(format!("secretsmanager:{operation}"), resource)]
        }
        "logs" => {
            let resource = match operation.as_str() {
                "DescribeLogGroups" => "*".to_owned(),
                "ListTagsForResource" | "TagResource" => field("resourceArn"),
                _ => arn("logs", &format!("log-group:{}", field("logGroupName"))),
            };
            vec![call(format!("logs:{operation}"), resource)]
        }
        "iam" => {
            let form = form(&request.body);
            let resource = match (form.get("PolicyArn"), form.get("PolicyName"), form.get("RoleName")) {
                (Some(policy), ..) => policy.clone(),
                (None, Some(name), _) if form["Action"] == "CreatePolicy" => {
                    format!("arn:aws:iam::{ACCOUNT}:policy/{name}")
                }
                (.., role) => format!("arn:aws:iam::{ACCOUNT}:role/{}", role.cloned().unwrap_or_default()),
            };
            vec![call(format!("iam:{}", form["Action"]), resource)]
        }
        "sts" => vec![call(format!("sts:{}", form(&request.body)["Action"]), "*")],
        "lambda" => lambda(request, &body),
        "apigateway" => {
            let path = request.path.split('?').next().unwrap_or_default().trim_start_matches("/v2");
            let resource = if request.method == Method::GET {
                "*".to_owned()
            } else {
                format!("arn:aws:apigateway:{REGION}::{path}")
            };
            vec![call(format!("apigateway:{}", request.method), resource)]
        }
        other => panic!("a call to an unmapped service '{other}': {}", request.operation),
    }
}

/// The `iam:PermissionsBoundary` condition key of role writes: the boundary a request sets, or the
/// one the role has (IAM User Guide, "IAM condition context keys" → iam:PermissionsBoundary).
fn with_boundary(request: &Recorded, calls: &mut [Call], boundaries: &mut BTreeMap<String, String>) {
    let form = form(&request.body);
    let Some(role) = form.get("RoleName") else { return };
    match form["Action"].as_str() {
        "CreateRole" | "PutRolePermissionsBoundary" => {
            if let Some(boundary) = form.get("PermissionsBoundary") {
                boundaries.insert(role.clone(), boundary.clone());
            }
        }
        "DeleteRolePermissionsBoundary" | "DeleteRole" => {
            boundaries.remove(role);
            return;
        }
        _ => {}
    }
    if let Some(boundary) = boundaries.get(role) {
        calls[0].context.insert("iam:PermissionsBoundary", boundary.clone());
    }
}

/// Lambda's REST paths, as its API reference lists them.
fn lambda(request: &Recorded, body: &Value) -> Vec<Call> {
    let path = decode(request.path.split('?').next().unwrap_or_default());
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let function = |name: &str| arn("lambda", &format!("function:{}", name.rsplit(':').next().unwrap_or(name)));
    let pass_role = |role: &Value| {
        role.as_str().map(|role| {
            let mut passed = call("iam:PassRole", role);
            passed.context.insert("iam:PassedToService", "lambda.amazonaws.com".into());
            passed
        })
    };
    let method = request.method.as_str();
    match (method, segments.as_slice()) {
        ("POST", [_, "functions"]) => {
            let mut calls = vec![call("lambda:CreateFunction", function(body["FunctionName"].as_str().unwrap()))];
            calls.extend(pass_role(&body["Role"]));
            calls
        }
        // `GetFunction` returns the tags only with `lambda:ListTags` (API reference, GetFunction).
        ("GET", [_, "functions", name]) => {
            vec![call("lambda:GetFunction", function(name)), call("lambda:ListTags", function(name))]
        }
        ("DELETE", [_, "functions", name]) => vec![call("lambda:DeleteFunction", function(name))],
        ("GET", [_, "functions", name, "configuration"]) => {
            vec![call("lambda:GetFunctionConfiguration", function(name))]
        }
        ("PUT", [_, "functions", name, "configuration"]) => {
            let mut calls = vec![call("lambda:UpdateFunctionConfiguration", function(name))];
            calls.extend(pass_role(&body["Role"]));
            calls
        }
        ("PUT", [_, "functions", name, "code"]) => vec![call("lambda:UpdateFunctionCode", function(name))],
        ("PUT", [_, "functions", name, "concurrency"]) => vec![call("lambda:PutFunctionConcurrency", function(name))],
        ("DELETE", [_, "functions", name, "concurrency"]) => {
            vec![call("lambda:DeleteFunctionConcurrency", function(name))]
        }
        ("GET", [_, "functions", name, "policy"]) => vec![call("lambda:GetPolicy", function(name))],
        ("POST", [_, "functions", name, "policy"]) => vec![call("lambda:AddPermission", function(name))],
        ("DELETE", [_, "functions", name, "policy", _]) => vec![call("lambda:RemovePermission", function(name))],
        ("GET", [_, "tags", resource @ ..]) => vec![call("lambda:ListTags", resource.join("/"))],
        ("POST", [_, "tags", resource @ ..]) => vec![call("lambda:TagResource", resource.join("/"))],
        _ => panic!("an unmapped Lambda call: {method} {path}"),
    }
}

/// `*` and `?` as IAM matches them in resources.
fn matches(pattern: &str, text: &str) -> bool {
    match (pattern.chars().next(), text.chars().next()) {
        (None, None) => true,
        (Some('*'), _) => {
            matches(&pattern[1..], text)
                || (!text.is_empty() && matches(pattern, &text[text.chars().next().unwrap().len_utf8()..]))
        }
        (Some('?'), Some(c)) => matches(&pattern[1..], &text[c.len_utf8()..]),
        (Some(p), Some(c)) if p == c => matches(&pattern[p.len_utf8()..], &text[c.len_utf8()..]),
        _ => false,
    }
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// Whether a statement of `policy` allows `call`: the action, a resource pattern, and every
/// condition (`StringEquals`, or `ArnLike` with IAM's wildcards, on a key the call sets; a key it
/// does not set fails the condition).
fn allowed(policy: &Value, call: &Call) -> bool {
    policy["Statement"].as_array().unwrap().iter().filter(|s| s["Effect"] == "Allow").any(|statement| {
        let action = strings(&statement["Action"]).iter().any(|a| a.eq_ignore_ascii_case(&call.action));
        let resource = strings(&statement["Resource"]).iter().any(|r| matches(r, &call.resource));
        let conditions = statement["Condition"].as_object().is_none_or(|conditions| {
            conditions.iter().all(|(operator, keys)| {
                keys.as_object().unwrap().iter().all(|(key, value)| {
                    call.context.get(key.as_str()).is_some_and(|set| match operator.as_str() {
                        "StringEquals" => strings(value).contains(set),
                        "ArnLike" => strings(value).iter().any(|pattern| matches(pattern, set)),
                        other => panic!("a condition operator this test does not evaluate: {other}"),
                    })
                })
            })
        });
        action && resource && conditions
    })
}

/// Actions of the policy that this lifecycle does not reach, and the path that needs each.
const ELSEWHERE: &[(&str, &str)] = &[
    ("ecr:PutImageScanningConfiguration", "a repository found without scan on push (a new one gets it at creation)"),
    ("lambda:GetFunctionConfiguration", "reading why a function failed to become ready"),
    ("lambda:RemovePermission", "an invoke permission whose source drifted is replaced"),
    ("apigateway:PATCH", "an API or stage that drifted (moto emulates no UpdateStage)"),
    ("dynamodb:UpdateTable", "a table found on provisioned capacity is put back on demand"),
    ("iam:UpdateAssumeRolePolicy", "a role whose trust policy drifted"),
    ("iam:PutRolePermissionsBoundary", "a role deployed before the boundary, or whose boundary was removed"),
    ("iam:DeleteRolePolicy", "a role carrying an inline policy of another name"),
    ("iam:DetachRolePolicy", "destroy of a role someone attached a managed policy to"),
    ("ecr:ListImages", "destroy of a repository"),
    ("ecr:GetDownloadUrlForLayer", "pulling a blob back (not done; kept for `docker pull` by the operator)"),
];

/// What the policy withholds on purpose, and why: an administrator's deploy and destroy make
/// these calls, a deployer's never need to (`provisioner/src/boundary.rs`).
const WITHHELD: &[(&str, &str)] = &[
    ("iam:CreatePolicy", "creating the permissions boundary: a deployer who could would set its content"),
    ("iam:TagPolicy", "tagging it as it is created"),
    ("iam:CreatePolicyVersion", "widening the boundary"),
    ("iam:ListPolicyVersions", "only to delete its other versions"),
    ("iam:DeletePolicyVersion", "deleting them"),
    ("iam:DeletePolicy", "removing the boundary, which a deployer's destroy keeps"),
];

fn policy_for(stack: &str) -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/deployer-policy.json")).unwrap();
    // The policy names stacks `messaging…`; a stack of another name adapts its patterns, as the
    // README says.
    let text =
        text.replace("messaging-*", &format!("{stack}-*")).replace("messaging-boundary", &format!("{stack}-boundary"));
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_of_a_lifecycle_is_allowed_by_the_documented_policy() {
    let Some(moto) = emulator() else { return };
    let proxy = Proxy::start(&moto).await;
    let stack = fresh_stack();
    let policy = policy_for(&stack);

    // Every optional resource on: reserved concurrency, feed retention (TTL on both tables), PITR,
    // the WebSocket API; then unchanged, changed, the key ring's commands, status, destroy.
    let full = ["deploy", "--binary", SMALL_BINARY, "--reserved-concurrency", "5", "--feed-ttl-days", "7"];
    provisioner(&proxy.url, &stack, &full).await.unwrap();
    provisioner(&proxy.url, &stack, &full).await.unwrap();
    // Another binary (a new image) and another memory size.
    let changed = ["deploy", "--binary", "/bin/false", "--memory-mb", "256", "--feed-ttl-days", "7"];
    provisioner(&proxy.url, &stack, &changed).await.unwrap();
    provisioner_keys(&proxy.url, &stack, &["server-key"]).await.unwrap();
    provisioner_keys(&proxy.url, &stack, &["keys", "rotate"]).await.unwrap();
    provisioner_set_hs256_secret(&proxy.url, &stack, Some("the app's own HS256 secret, 32+ bytes")).await;
    provisioner(&proxy.url, &stack, &["status"]).await.unwrap();
    provisioner(&proxy.url, &stack, &["destroy", "--yes"]).await.unwrap();

    let mut boundaries = BTreeMap::new();
    let calls: Vec<Call> = proxy.take().iter().flat_map(|r| authorizations(r, &mut boundaries)).collect();
    assert!(calls.len() > 100, "{} calls recorded", calls.len());
    let withheld: BTreeSet<&str> = WITHHELD.iter().map(|(a, _)| *a).collect();
    let refused: Vec<&Call> =
        calls.iter().filter(|call| !allowed(&policy, call) && !withheld.contains(call.action.as_str())).collect();
    assert!(refused.is_empty(), "calls the deployer policy does not allow: {refused:#?}");
    // The role was created and its policy written under the boundary the policy requires.
    let create_role = calls.iter().find(|c| c.action == "iam:CreateRole").expect("the role was created");
    assert_eq!(
        create_role.context["iam:PermissionsBoundary"],
        format!("arn:aws:iam::{ACCOUNT}:policy/{stack}-boundary")
    );
    let boundary = format!("arn:aws:iam::{ACCOUNT}:policy/{stack}-boundary");
    for (action, why) in WITHHELD {
        assert!(!allowed(&policy, &call(*action, &boundary)), "the policy allows {action} ({why})");
    }

    // And nothing in the policy that no path needs.
    let used: BTreeSet<String> = calls.iter().map(|c| c.action.to_lowercase()).collect();
    let elsewhere: BTreeSet<String> = ELSEWHERE.iter().map(|(a, _)| a.to_lowercase()).collect();
    let listed: BTreeSet<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| strings(&s["Action"]))
        .map(|a| a.to_lowercase())
        .collect();
    let unused: Vec<&String> = listed.iter().filter(|a| !used.contains(*a) && !elsewhere.contains(*a)).collect();
    assert!(unused.is_empty(), "actions the policy grants that nothing uses: {unused:?}");
}

#[test]
fn resource_patterns_match_as_iam_matches_them() {
    assert!(matches("arn:aws:lambda:*:*:function:s-*", "arn:aws:lambda:us-east-1:1:function:s-api"));
    assert!(!matches("arn:aws:lambda:*:*:function:s-*", "arn:aws:lambda:us-east-1:1:function:other"));
    assert!(matches("secret:s-keys-??????", "secret:s-keys-AbCdEf"));
    assert!(!matches("secret:s-keys-??????", "secret:s-keys-AbC"));
    assert!(matches("*", "anything"));
}

/// The path to administrator stays closed: no role without the stack's boundary, none under
/// another boundary, and no policy written onto a role that has none.
#[test]
fn roles_are_created_and_written_only_under_the_stacks_boundary() {
    let policy = policy_for("s");
    let role = format!("arn:aws:iam::{ACCOUNT}:role/s-api-role");
    let with = |action: &str, boundary: Option<&str>| {
        let mut c = call(action, &role);
        if let Some(boundary) = boundary {
            c.context.insert("iam:PermissionsBoundary", boundary.to_owned());
        }
        c
    };
    let ours = format!("arn:aws:iam::{ACCOUNT}:policy/s-boundary");
    let other = format!("arn:aws:iam::{ACCOUNT}:policy/s-other");
    for action in ["iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary"] {
        assert!(allowed(&policy, &with(action, Some(&ours))), "{action} under the boundary");
        assert!(!allowed(&policy, &with(action, None)), "{action} without a boundary");
        assert!(!allowed(&policy, &with(action, Some(&other))), "{action} under another boundary");
    }
    assert!(!allowed(&policy, &with("iam:DeleteRolePermissionsBoundary", Some(&ours))));
    assert!(!allowed(&policy, &call("iam:PassRole", &role)), "PassRole only to Lambda");
}
