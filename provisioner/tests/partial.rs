//! Partial states: after a deploy, each resource in turn is removed behind the provisioner's back;
//! `status` reports it missing, `destroy` succeeds, and so does a new `deploy`.

mod support;

use provisioner::aws::Aws;
use provisioner::report::Outcome;
use support::*;

/// Removes one resource of `stack` the way an operator or another tool might.
async fn remove(aws: &Aws, stack: &str, kind: &str) {
    match kind {
        "ecr repository" => {
            aws.ecr.delete_repository().repository_name(format!("{stack}-runtime")).force(true).send().await.unwrap();
        }
        "iam role" => {
            let role = format!("{stack}-api-role");
            let policy = format!("{stack}-api-data-and-logs");
            aws.iam.delete_role_policy().role_name(&role).policy_name(policy).send().await.unwrap();
            aws.iam.delete_role().role_name(&role).send().await.unwrap();
        }
        "permissions boundary" => {
            // IAM deletes no policy still set as a boundary.
            let role = aws.iam.delete_role_permissions_boundary().role_name(format!("{stack}-api-role"));
            role.send().await.unwrap();
            let arn = format!("arn:aws:iam::123456789012:policy/{stack}-boundary");
            aws.iam.delete_policy().policy_arn(arn).send().await.unwrap();
        }
        "dynamodb table" => {
            aws.dynamodb.delete_table().table_name(format!("{stack}-feeds")).send().await.unwrap();
        }
        "secret" => {
            let secret = aws.secrets.delete_secret().secret_id(format!("{stack}-keys"));
            secret.force_delete_without_recovery(true).send().await.unwrap();
        }
        "log group" => {
            aws.logs.delete_log_group().log_group_name(format!("{stack}-api-logs")).send().await.unwrap();
        }
        "lambda function" => {
            aws.lambda.delete_function().function_name(format!("{stack}-api")).send().await.unwrap();
        }
        "http api" | "websocket api" => {
            let name = if kind == "http api" { format!("{stack}-http") } else { format!("{stack}-ws") };
            let apis = aws.apigateway.get_apis().send().await.unwrap();
            let api = apis.items().iter().find(|a| a.name() == Some(&name)).unwrap();
            aws.apigateway.delete_api().api_id(api.api_id().unwrap()).send().await.unwrap();
        }
        other => unreachable!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_resource_missing_is_reported_and_repaired() {
    let Some(moto) = emulator() else { return };
    let aws = clients(&moto).await;
    let kinds = [
        "ecr repository",
        "secret",
        "permissions boundary",
        "iam role",
        "dynamodb table",
        "log group",
        "lambda function",
        "http api",
        "websocket api",
    ];
    for kind in kinds {
        let stack = fresh_stack();
        provisioner(&moto, &stack, &["deploy", "--binary", SMALL_BINARY]).await.unwrap();
        remove(&aws, &stack, kind).await;

        let status = provisioner(&moto, &stack, &["status"]).await.unwrap();
        assert!(outcome_of(&status, kind).contains(&Outcome::Missing), "{kind}: {status}");
        assert!(status.has(Outcome::Missing), "status exits non-zero");

        // A deploy repairs it; a destroy from the partial state removes everything.
        let repaired = provisioner(&moto, &stack, &["deploy", "--binary", SMALL_BINARY]).await.unwrap();
        assert!(outcome_of(&repaired, kind).contains(&Outcome::Created), "{kind}: {repaired}");
        let status = provisioner(&moto, &stack, &["status"]).await.unwrap();
        assert!(!status.has(Outcome::Missing) && !status.has(Outcome::Drifted), "{kind}: {status}");
        remove(&aws, &stack, kind).await;
        let destroyed = provisioner(&moto, &stack, &["destroy", "--yes"]).await.unwrap();
        assert!(outcome_of(&destroyed, kind).contains(&Outcome::Absent), "{kind}: {destroyed}");
        let after = provisioner(&moto, &stack, &["status"]).await.unwrap();
        assert!(after.resources.iter().all(|r| r.outcome == Outcome::Missing), "{kind}: {after}");
    }
}

/// `destroy --keep-data` keeps the tables and the keys that read their cursors and sign their
/// sessions; a later deploy adopts them unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_can_keep_the_data() {
    let Some(moto) = emulator() else { return };
    let stack = fresh_stack();
    provisioner(&moto, &stack, &["deploy", "--binary", SMALL_BINARY]).await.unwrap();
    let destroyed = provisioner(&moto, &stack, &["destroy", "--yes", "--keep-data"]).await.unwrap();
    assert_eq!(outcome_of(&destroyed, "dynamodb table"), [Outcome::Kept, Outcome::Kept]);
    assert_eq!(outcome_of(&destroyed, "secret"), [Outcome::Kept]);
    let again = provisioner(&moto, &stack, &["deploy", "--binary", SMALL_BINARY]).await.unwrap();
    assert_eq!(outcome_of(&again, "dynamodb table"), [Outcome::Unchanged, Outcome::Unchanged]);
    assert_eq!(outcome_of(&again, "secret"), [Outcome::Unchanged]);
    provisioner(&moto, &stack, &["destroy", "--yes"]).await.unwrap();
}

/// A function deployed before the key ring had its one key in `MESSAGING_TOKEN_KEY`: the next
/// deploy makes it the ring's first signing key and its cursor key (cursors keep working), and
/// takes it out of the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_before_the_key_ring_keeps_its_key() {
    let Some(moto) = emulator() else { return };
    let aws = clients(&moto).await;
    let stack = fresh_stack();
    provisioner(&moto, &stack, &["deploy", "--binary", SMALL_BINARY]).await.unwrap();
    // What the older version left: no secret, the key in the environment.
    let secret = aws.secrets.delete_secret().secret_id(format!("{stack}-keys"));
    secret.force_delete_without_recovery(true).send().await.unwrap();
    let function = format!("{stack}-api");
    let config = aws.lambda.get_function_configuration().function_name(&function).send().await.unwrap();
    let mut env = config.environment().unwrap().variables().unwrap().clone();
    env.remove("MESSAGING_KEY_RING_SECRET");
    env.remove("MESSAGING_KEY_RING_VERSION");
    let legacy = contract::token_key::TokenKey::generate();
    env.insert("MESSAGING_TOKEN_KEY".into(), legacy.to_hex());
    let old = aws_sdk_lambda::types::Environment::builder().set_variables(Some(env)).build();
    aws.lambda.update_function_configuration().function_name(&function).environment(old).send().await.unwrap();

    let upgraded = provisioner(&moto, &stack, &["deploy", "--binary", SMALL_BINARY]).await.unwrap();
    assert_eq!(outcome_of(&upgraded, "secret"), [Outcome::Created]);
    let stored = aws.secrets.get_secret_value().secret_id(format!("{stack}-keys")).send().await.unwrap();
    let ring = contract::key_ring::KeyRing::parse(stored.secret_string().unwrap()).unwrap();
    assert!(ring.cursor_key == legacy && ring.signing_keys[0].key == legacy, "the old key is the ring's first");
    let config = aws.lambda.get_function_configuration().function_name(&function).send().await.unwrap();
    let env = config.environment().unwrap().variables().unwrap();
    assert!(!env.contains_key("MESSAGING_TOKEN_KEY"), "the plaintext key is gone from the environment");
    assert_eq!(env["MESSAGING_KEY_RING_VERSION"], stored.version_id().unwrap());
    provisioner(&moto, &stack, &["destroy", "--yes"]).await.unwrap();
}
