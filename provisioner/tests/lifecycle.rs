//! The whole life of a stack against moto: deploy, every resource checked through the SDK, a
//! second deploy that changes nothing, one changed setting, destroy, and nothing left.

mod support;

use std::collections::HashMap;

use provisioner::report::Outcome;
use serde_json::{Value, json};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_check_redeploy_change_and_destroy() {
    let Some(moto) = emulator() else { return };
    let proxy = Proxy::start(&moto).await;
    let stack = fresh_stack();
    let aws = clients(&moto).await;
    let account = "123456789012";

    let first = provisioner(&proxy.url, &stack, &["deploy", "--binary", SMALL_BINARY]).await.unwrap();
    assert!(first.resources.iter().all(|r| r.outcome == Outcome::Created), "{first}");
    assert_eq!(first.resources.len(), 14, "{first}");
    let endpoint = first.endpoint.clone().expect("deploy prints the endpoint");
    assert!(endpoint.starts_with("https://") && endpoint.contains(".execute-api.us-east-1."), "{endpoint}");
    let sent = proxy.take();

    // The WebSocket API, first: its id is in the role's policy and the function's environment.
    let apis = aws.apigateway.get_apis().send().await.unwrap();
    let ws: Vec<_> = apis.items().iter().filter(|a| a.name() == Some(&format!("{stack}-ws"))).collect();
    assert_eq!(ws.len(), 1);
    let ws_id = ws[0].api_id().unwrap().to_owned();
    assert_eq!(first.stream_endpoint, Some(format!("wss://{ws_id}.execute-api.us-east-1.amazonaws.com/live")));

    // The role: assumable by Lambda only; the store's actions on exactly the two tables,
    // writing to its own log group, and posting to its own WebSocket API's connections.
    let role = format!("{stack}-api-role");
    let trust =
        aws.iam.get_role().role_name(&role).send().await.unwrap().role.unwrap().assume_role_policy_document.unwrap();
    let trust: Value = serde_json::from_str(&percent_decode(&trust)).unwrap();
    assert_eq!(trust["Statement"][0]["Principal"]["Service"], "lambda.amazonaws.com");
    let policy = aws
        .iam
        .get_role_policy()
        .role_name(&role)
        .policy_name(format!("{stack}-api-data-and-logs"))
        .send()
        .await
        .unwrap();
    let policy: Value = serde_json::from_str(&percent_decode(&policy.policy_document)).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 4);
    assert_eq!(statements[0]["Action"], json!(contract::iam::DYNAMODB_ACTIONS));
    // The key ring: that one secret, by its name and the six characters Secrets Manager appends.
    assert_eq!(statements[1]["Action"], "secretsmanager:GetSecretValue");
    assert_eq!(
        statements[1]["Resource"],
        format!("arn:aws:secretsmanager:us-east-1:{account}:secret:{stack}-keys-??????")
    );
    let statements: Vec<&Value> = statements.iter().enumerate().filter(|(i, _)| *i != 1).map(|(_, s)| s).collect();
    let tables = [format!("{stack}-entities"), format!("{stack}-feeds")];
    let table_arns: Vec<String> =
        tables.iter().map(|t| format!("arn:aws:dynamodb:us-east-1:{account}:table/{t}")).collect();
    assert_eq!(statements[0]["Resource"], json!(table_arns));
    assert_eq!(statements[1]["Action"], json!(["logs:CreateLogStream", "logs:PutLogEvents"]));
    assert_eq!(statements[1]["Resource"], format!("arn:aws:logs:us-east-1:{account}:log-group:{stack}-api-logs:*"));
    assert_eq!(statements[2]["Action"], "execute-api:ManageConnections");
    assert_eq!(
        statements[2]["Resource"],
        json!([
            format!("arn:aws:execute-api:us-east-1:{account}:{ws_id}/live/POST/@connections/*"),
            format!("arn:aws:execute-api:us-east-1:{account}:{ws_id}/live/DELETE/@connections/*"),
        ])
    );
    assert!(!policy.to_string().contains("\"*\""), "no wildcard resource: {policy}");
    assert_eq!(
        tag_of(
            aws.iam.list_role_tags().role_name(&role).send().await.unwrap().tags().iter().map(|t| (t.key(), t.value()))
        ),
        stack
    );

    // The role's permissions boundary: a tagged managed policy capping it to the stack's own
    // tables, key ring, log group and connections, set on the role.
    let boundary_arn = format!("arn:aws:iam::{account}:policy/{stack}-boundary");
    let found = aws.iam.get_role().role_name(&role).send().await.unwrap().role.unwrap();
    assert_eq!(found.permissions_boundary().and_then(|b| b.permissions_boundary_arn()), Some(boundary_arn.as_str()));
    let boundary = aws.iam.get_policy().policy_arn(&boundary_arn).send().await.unwrap().policy.unwrap();
    assert_eq!(tag_of(boundary.tags().iter().map(|t| (t.key(), t.value()))), stack);
    let version = boundary.default_version_id().unwrap();
    let version = aws.iam.get_policy_version().policy_arn(&boundary_arn).version_id(version).send().await.unwrap();
    let capped: Value =
        serde_json::from_str(&percent_decode(version.policy_version().unwrap().document().unwrap())).unwrap();
    assert_eq!(capped["Statement"][0]["Resource"], json!(table_arns));
    assert_eq!(
        capped["Statement"][3]["Resource"],
        format!("arn:aws:execute-api:us-east-1:{account}:*/*/*/@connections/*")
    );

    // The tables: the runtime's keys, on demand, point-in-time recovery on, tagged.
    for (table, keys) in tables.iter().zip([[("pk", "HASH"), ("sk", "RANGE")], [("user", "HASH"), ("seq", "RANGE")]]) {
        let described = aws.dynamodb.describe_table().table_name(table).send().await.unwrap().table.unwrap();
        let found: Vec<(&str, &str)> =
            described.key_schema().iter().map(|k| (k.attribute_name(), k.key_type().as_str())).collect();
        assert_eq!(found, keys);
        assert_eq!(described.billing_mode_summary().unwrap().billing_mode().unwrap().as_str(), "PAY_PER_REQUEST");
        let backups = aws.dynamodb.describe_continuous_backups().table_name(table).send().await.unwrap();
        let recovery = backups.continuous_backups_description().unwrap().point_in_time_recovery_description().unwrap();
        assert_eq!(recovery.point_in_time_recovery_status().unwrap().as_str(), "ENABLED");
        let tags =
            aws.dynamodb.list_tags_of_resource().resource_arn(described.table_arn().unwrap()).send().await.unwrap();
        assert_eq!(tag_of(tags.tags().iter().map(|t| (t.key(), t.value()))), stack);
    }
    // Connection records expire from the entities table by TTL; feed entries only with retention.
    let ttl = aws.dynamodb.describe_time_to_live().table_name(&tables[0]).send().await.unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!((ttl.attribute_name(), ttl.time_to_live_status().unwrap().as_str()), (Some("ttl"), "ENABLED"));
    let ttl = aws.dynamodb.describe_time_to_live().table_name(&tables[1]).send().await.unwrap();
    assert_ne!(ttl.time_to_live_description().unwrap().time_to_live_status().unwrap().as_str(), "ENABLED");

    // The key ring's secret: tagged, holding a fresh ring, its ARN matched by the role's pattern.
    let secret = aws.secrets.describe_secret().secret_id(format!("{stack}-keys")).send().await.unwrap();
    assert_eq!(tag_of(secret.tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap()))), stack);
    let secret_arn = secret.arn().unwrap().to_owned();
    let pattern = format!("arn:aws:secretsmanager:us-east-1:{account}:secret:{stack}-keys-");
    assert!(secret_arn.starts_with(&pattern) && secret_arn.len() == pattern.len() + 6, "{secret_arn}");
    let stored = aws.secrets.get_secret_value().secret_id(&secret_arn).send().await.unwrap();
    let ring = contract::key_ring::KeyRing::parse(stored.secret_string().unwrap()).unwrap();
    let server_key = provisioner_keys(&proxy.url, &stack, &["server-key"]).await.unwrap();
    assert_eq!(server_key, ring.server_key.as_str(), "server-key prints the ring's");
    proxy.take();

    // The function: an x86_64 image function running the pushed image, with the runtime's
    // environment, which names the key ring's secret and holds no key.
    let function = aws.lambda.get_function().function_name(format!("{stack}-api")).send().await.unwrap();
    let config = function.configuration().unwrap();
    assert_eq!(config.package_type().unwrap().as_str(), "Image");
    assert_eq!(config.architectures()[0].as_str(), "x86_64");
    assert_eq!((config.memory_size(), config.timeout()), (Some(128), Some(10)));
    assert_eq!(config.role(), Some(format!("arn:aws:iam::{account}:role/{role}").as_str()));
    let image_uri = function.code().unwrap().image_uri().unwrap();
    let (repository_uri, digest) = image_uri.split_once('@').unwrap();
    assert_eq!(repository_uri, format!("{account}.dkr.ecr.us-east-1.amazonaws.com/{stack}-runtime"));
    let env: HashMap<String, String> = config.environment().unwrap().variables().unwrap().clone();
    assert_eq!(env["MESSAGING_STORE"], "dynamodb");
    assert_eq!(
        (env["MESSAGING_ENTITIES_TABLE"].as_str(), env["MESSAGING_FEEDS_TABLE"].as_str()),
        (tables[0].as_str(), tables[1].as_str())
    );
    assert_eq!(env["MESSAGING_FEED_TTL_DAYS"], "0");
    assert_eq!(env["MESSAGING_PUSH_ENDPOINT"], format!("https://{ws_id}.execute-api.us-east-1.amazonaws.com/live"));
    assert_eq!(env["MESSAGING_KEY_RING_SECRET"], secret_arn);
    assert_eq!(env["MESSAGING_KEY_RING_VERSION"], stored.version_id().unwrap());
    assert!(!env.contains_key("MESSAGING_TOKEN_KEY") && !env.contains_key("MESSAGING_SERVER_KEY"), "{env:?}");
    assert_eq!((env["MESSAGING_AUTH_MODE"].as_str(), env["MESSAGING_ACCESS_TOKEN_TTL_SECS"].as_str()), ("app", "3600"));
    assert_eq!(tag_of(function.tags().unwrap().iter().map(|(k, v)| (k.as_str(), v.as_str()))), stack);
    // moto keeps no LoggingConfig: what the provisioner sent is checked instead.
    let create =
        sent.iter().find(|r| r.operation == "POST /2015-03-31/functions").expect("CreateFunction was sent").json();
    assert_eq!(
        create["LoggingConfig"],
        json!({"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN", "LogGroup": format!("{stack}-api-logs")})
    );

    // The image in the repository is the one the function runs; the repository scans on push
    // and keeps the last images.
    let images = aws.ecr.describe_images().repository_name(format!("{stack}-runtime")).send().await.unwrap();
    assert_eq!(images.image_details().iter().map(|i| i.image_digest().unwrap()).collect::<Vec<_>>(), [digest]);
    let repository = aws.ecr.describe_repositories().repository_names(format!("{stack}-runtime")).send().await.unwrap();
    assert!(repository.repositories()[0].image_scanning_configuration().unwrap().scan_on_push());
    let lifecycle = aws.ecr.get_lifecycle_policy().repository_name(format!("{stack}-runtime")).send().await.unwrap();
    let lifecycle: Value = serde_json::from_str(lifecycle.lifecycle_policy_text().unwrap()).unwrap();
    assert_eq!(lifecycle["rules"][0]["selection"]["countNumber"], 5);

    // The log groups, the function's and the access log's, with their retention.
    for group in [format!("{stack}-api-logs"), format!("{stack}-access-logs")] {
        let groups = aws.logs.describe_log_groups().log_group_name_prefix(&group).send().await.unwrap();
        assert_eq!(groups.log_groups()[0].retention_in_days(), Some(14), "{group}");
    }

    // The HTTP API: one proxy integration to the function (payload 2.0), the $default route
    // and stage with auto-deploy and throttling, and the permission scoped to this API.
    let apis = aws.apigateway.get_apis().send().await.unwrap();
    let ours: Vec<_> = apis.items().iter().filter(|a| a.name() == Some(&format!("{stack}-http"))).collect();
    assert_eq!(ours.len(), 1);
    let api_id = ours[0].api_id().unwrap();
    assert_eq!(tag_of(ours[0].tags().unwrap().iter().map(|(k, v)| (k.as_str(), v.as_str()))), stack);
    let integrations = aws.apigateway.get_integrations().api_id(api_id).send().await.unwrap();
    let integration = &integrations.items()[0];
    assert_eq!(integrations.items().len(), 1);
    assert_eq!(integration.integration_type().unwrap().as_str(), "AWS_PROXY");
    assert_eq!(
        integration.integration_uri(),
        Some(format!("arn:aws:lambda:us-east-1:{account}:function:{stack}-api").as_str())
    );
    assert_eq!(integration.payload_format_version(), Some("2.0"));
    // `$default`, and a route of its own for each unauthenticated route, all to the function.
    let routes = aws.apigateway.get_routes().api_id(api_id).send().await.unwrap();
    let mut keys: Vec<&str> = routes.items().iter().filter_map(|r| r.route_key()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["$default", "POST /v1/sessions", "POST /v1/sessions/refresh", "POST /v1/users"]);
    let target = format!("integrations/{}", integration.integration_id().unwrap());
    assert!(routes.items().iter().all(|r| r.target() == Some(target.as_str())));
    let stage = aws.apigateway.get_stage().api_id(api_id).stage_name("$default").send().await.unwrap();
    assert_eq!(stage.auto_deploy(), Some(true));
    let throttling = stage.default_route_settings().unwrap();
    assert_eq!((throttling.throttling_rate_limit(), throttling.throttling_burst_limit()), (Some(1000.0), Some(2000)));
    // Each unauthenticated route throttled on its own, below the stage.
    let per_route = stage.route_settings().unwrap();
    for route in contract::edge::UNAUTHENTICATED_ROUTES {
        let throttle = &per_route[route];
        assert_eq!((throttle.throttling_rate_limit(), throttle.throttling_burst_limit()), (Some(20.0), Some(40)));
    }
    // The access log: JSON lines into the stack's access log group.
    let access = stage.access_log_settings().unwrap();
    assert_eq!(
        access.destination_arn(),
        Some(format!("arn:aws:logs:us-east-1:{account}:log-group:{stack}-access-logs").as_str())
    );
    assert_eq!(access.format(), Some(contract::edge::ACCESS_LOG_FORMAT));
    let permission = aws.lambda.get_policy().function_name(format!("{stack}-api")).send().await.unwrap();
    let permission: Value = serde_json::from_str(permission.policy().unwrap()).unwrap();
    let statements = permission["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2);
    for (sid, api) in [(format!("{stack}-http-invoke"), api_id), (format!("{stack}-ws-invoke"), ws_id.as_str())] {
        let statement = statements.iter().find(|s| s["Sid"] == sid.as_str()).expect("one statement per API");
        assert_eq!(statement["Principal"]["Service"], "apigateway.amazonaws.com");
        assert_eq!(
            statement["Condition"]["ArnLike"]["AWS:SourceArn"],
            format!("arn:aws:execute-api:us-east-1:{account}:{api}/*")
        );
    }

    // The WebSocket API: every message to `$default`, one proxy integration to the same
    // function, the three routes on it, the `live` stage with auto-deploy and throttling.
    assert_eq!(ws[0].protocol_type().unwrap().as_str(), "WEBSOCKET");
    assert_eq!(ws[0].route_selection_expression(), Some("$request.body.action"));
    assert_eq!(tag_of(ws[0].tags().unwrap().iter().map(|(k, v)| (k.as_str(), v.as_str()))), stack);
    let integrations = aws.apigateway.get_integrations().api_id(&ws_id).send().await.unwrap();
    assert_eq!(integrations.items().len(), 1);
    let integration = &integrations.items()[0];
    assert_eq!(integration.integration_type().unwrap().as_str(), "AWS_PROXY");
    let function_arn = format!("arn:aws:lambda:us-east-1:{account}:function:{stack}-api");
    let invocation =
        format!("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations");
    assert_eq!(integration.integration_uri(), Some(invocation.as_str()));
    let routes = aws.apigateway.get_routes().api_id(&ws_id).send().await.unwrap();
    let mut keys: Vec<&str> = routes.items().iter().map(|r| r.route_key().unwrap()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["$connect", "$default", "$disconnect"]);
    let target = format!("integrations/{}", integration.integration_id().unwrap());
    assert!(routes.items().iter().all(|r| r.target() == Some(target.as_str())));
    let stage = aws.apigateway.get_stage().api_id(&ws_id).stage_name("live").send().await.unwrap();
    assert_eq!(stage.auto_deploy(), Some(true));
    let throttling = stage.default_route_settings().unwrap();
    assert_eq!((throttling.throttling_rate_limit(), throttling.throttling_burst_limit()), (Some(1000.0), Some(2000)));

    // A second deploy changes nothing, pushes nothing and creates nothing.
    let second = provisioner(&proxy.url, &stack, &["deploy", "--binary", SMALL_BINARY]).await.unwrap();
    assert!(second.resources.iter().all(|r| r.outcome == Outcome::Unchanged), "{second}");
    assert_eq!(second.endpoint.as_deref(), Some(endpoint.as_str()));
    let writes: Vec<String> = proxy.take().into_iter().map(|r| r.operation).filter(|o| !is_read(o)).collect();
    assert_eq!(writes, ["GetCallerIdentity"], "the second deploy only read");
    let env_after: HashMap<String, String> = function_env(&aws, &stack).await;
    assert_eq!(env_after, env, "the key ring is kept");

    // A dry run with a changed setting says what would change, and changes nothing.
    let plan =
        provisioner(&proxy.url, &stack, &["deploy", "--binary", SMALL_BINARY, "--memory-mb", "256", "--dry-run"])
            .await
            .unwrap();
    assert_eq!(outcome_of(&plan, "lambda function"), [Outcome::WouldUpdate]);
    assert_eq!(plan.resources.iter().filter(|r| r.outcome != Outcome::Unchanged).count(), 1, "{plan}");
    assert!(proxy.take().iter().all(|r| is_read(&r.operation) || r.operation == "GetCallerIdentity"));

    // One changed setting updates only the function's configuration.
    let changed =
        provisioner(&proxy.url, &stack, &["deploy", "--binary", SMALL_BINARY, "--memory-mb", "256"]).await.unwrap();
    let updated: Vec<_> = changed.resources.iter().filter(|r| r.outcome != Outcome::Unchanged).collect();
    assert_eq!(updated.len(), 1, "{changed}");
    assert_eq!(
        (updated[0].kind, updated[0].outcome, &updated[0].changes[..]),
        ("lambda function", Outcome::Updated, &["memory 256 MB".to_owned()][..])
    );
    let writes: Vec<String> = proxy.take().into_iter().map(|r| r.operation).filter(|o| !is_read(o)).collect();
    assert_eq!(
        writes,
        ["GetCallerIdentity".to_owned(), format!("PUT /2015-03-31/functions/{stack}-api/configuration")]
    );
    let memory = aws
        .lambda
        .get_function_configuration()
        .function_name(format!("{stack}-api"))
        .send()
        .await
        .unwrap()
        .memory_size();
    assert_eq!(memory, Some(256));
    assert_eq!(function_env(&aws, &stack).await["MESSAGING_KEY_RING_VERSION"], env["MESSAGING_KEY_RING_VERSION"]);

    // Reserved concurrency is set, then removed again.
    provisioner(
        &proxy.url,
        &stack,
        &["deploy", "--binary", SMALL_BINARY, "--memory-mb", "256", "--reserved-concurrency", "5"],
    )
    .await
    .unwrap();
    let concurrency = aws.lambda.get_function_concurrency().function_name(format!("{stack}-api")).send().await.unwrap();
    assert_eq!(concurrency.reserved_concurrent_executions(), Some(5));
    let removed =
        provisioner(&proxy.url, &stack, &["deploy", "--binary", SMALL_BINARY, "--memory-mb", "256"]).await.unwrap();
    assert_eq!(
        removed.resources.iter().find(|r| r.kind == "lambda function").unwrap().changes,
        ["no reserved concurrency"]
    );
    let concurrency = aws.lambda.get_function_concurrency().function_name(format!("{stack}-api")).send().await.unwrap();
    assert_eq!(concurrency.reserved_concurrent_executions(), None);

    // Rotation adds a signing key to the ring, keeps the others and the server key, and points
    // the function at the new version (which replaces its instances); a deploy after it agrees.
    let said = provisioner_keys(&proxy.url, &stack, &["keys", "rotate"]).await.unwrap();
    let rotated = aws.secrets.get_secret_value().secret_id(&secret_arn).send().await.unwrap();
    let new_ring = contract::key_ring::KeyRing::parse(rotated.secret_string().unwrap()).unwrap();
    assert_eq!(new_ring.signing_keys.len(), 2, "the old key verifies until its tokens expire");
    assert_eq!(new_ring.signing_keys[0].key, ring.signing_keys[0].key);
    assert_eq!((&new_ring.server_key, &new_ring.cursor_key), (&ring.server_key, &ring.cursor_key));
    assert!(said.contains(&new_ring.signing().id()), "{said}");
    let env_rotated = function_env(&aws, &stack).await;
    assert_eq!(env_rotated["MESSAGING_KEY_RING_VERSION"], rotated.version_id().unwrap());
    assert_ne!(env_rotated["MESSAGING_KEY_RING_VERSION"], env["MESSAGING_KEY_RING_VERSION"]);
    assert_eq!(env_rotated["MESSAGING_PUSH_ENDPOINT"], env["MESSAGING_PUSH_ENDPOINT"], "nothing else changed");
    let config = aws.lambda.get_function_configuration().function_name(format!("{stack}-api")).send().await.unwrap();
    assert_eq!(config.memory_size(), Some(256), "the deployed settings stay");
    let after_rotation =
        provisioner(&proxy.url, &stack, &["deploy", "--binary", SMALL_BINARY, "--memory-mb", "256"]).await.unwrap();
    assert!(after_rotation.resources.iter().all(|r| r.outcome == Outcome::Unchanged), "{after_rotation}");

    // Destroy leaves nothing of the stack.
    let destroyed = provisioner(&proxy.url, &stack, &["destroy", "--yes"]).await.unwrap();
    assert!(destroyed.resources.iter().all(|r| r.outcome == Outcome::Deleted), "{destroyed}");
    assert_nothing_left(&aws, &stack).await;
    let status = provisioner(&proxy.url, &stack, &["status"]).await.unwrap();
    assert!(status.resources.iter().all(|r| r.outcome == Outcome::Missing), "{status}");
    let again = provisioner(&proxy.url, &stack, &["destroy", "--yes"]).await.unwrap();
    assert!(again.resources.iter().all(|r| r.outcome == Outcome::Absent), "{again}");
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn tag_of<'a>(mut tags: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    tags.find(|(k, _)| *k == "messaging:stack").map(|(_, v)| v.to_owned()).unwrap_or_default()
}

/// Reads: `Get…`, `Describe…`, `List…`, `BatchGet…`/`BatchCheck…` and REST `GET`s.
fn is_read(operation: &str) -> bool {
    ["Get", "Describe", "List", "BatchGet", "BatchCheck", "GET "].iter().any(|p| operation.starts_with(p))
        && operation != "GetCallerIdentity"
}

async fn function_env(aws: &provisioner::aws::Aws, stack: &str) -> HashMap<String, String> {
    let config = aws.lambda.get_function_configuration().function_name(format!("{stack}-api")).send().await.unwrap();
    config.environment().unwrap().variables().unwrap().clone()
}

/// Nothing whose name starts with the stack's is left in any service.
pub async fn assert_nothing_left(aws: &provisioner::aws::Aws, stack: &str) {
    let prefix = format!("{stack}-");
    let repositories = aws.ecr.describe_repositories().send().await.unwrap();
    assert!(!repositories.repositories().iter().any(|r| r.repository_name().unwrap().starts_with(&prefix)));
    let roles = aws.iam.list_roles().send().await.unwrap();
    assert!(!roles.roles().iter().any(|r| r.role_name().starts_with(&prefix)));
    let tables = aws.dynamodb.list_tables().send().await.unwrap();
    assert!(!tables.table_names().iter().any(|t| t.starts_with(&prefix)));
    let groups = aws.logs.describe_log_groups().log_group_name_prefix(&prefix).send().await.unwrap();
    assert!(groups.log_groups().is_empty());
    let functions = aws.lambda.list_functions().send().await.unwrap();
    assert!(!functions.functions().iter().any(|f| f.function_name().unwrap().starts_with(&prefix)));
    let apis = aws.apigateway.get_apis().send().await.unwrap();
    assert!(!apis.items().iter().any(|a| a.name().unwrap().starts_with(&prefix)));
    let secrets = aws.secrets.list_secrets().send().await.unwrap();
    assert!(!secrets.secret_list().iter().any(|s| s.name().unwrap().starts_with(&prefix)));
}
