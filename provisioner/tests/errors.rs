//! Every failure ends with one clear message and a non-zero exit, never a panic or a debug dump;
//! a later deploy or destroy repairs an interrupted one. Run through the real binary.

mod support;

use std::process::{Output, Stdio};
use std::time::Duration;

use provisioner::report::Outcome;
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_provisioner");
/// Where `cargo xtask test` runs a second moto that enforces IAM policies.
const AUTH_ENDPOINT_VAR: &str = "MESSAGING_TEST_MOTO_AUTH_ENDPOINT";

/// The binary with no AWS settings from this environment but those given.
fn provisioner_command(args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws/credentials")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

fn with_credentials(command: &mut Command, key: &str, secret: &str) {
    command.env("AWS_ACCESS_KEY_ID", key).env("AWS_SECRET_ACCESS_KEY", secret).env("AWS_REGION", "us-east-1");
}

/// Exits with `code` after one clear line on stderr that contains `expected`.
fn assert_fails_clearly(output: &Output, code: i32, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains(expected), "expected '{expected}' in: {stderr}");
    for dump in ["panicked", "Error {", "ServiceError", "backtrace", "{ kind"] {
        assert!(!stderr.contains(dump), "no debug output: {stderr}");
    }
}

#[tokio::test]
async fn no_credentials_unknown_region_and_bad_stack_names_are_clear_errors() {
    let Some(moto) = emulator() else { return };
    let output =
        provisioner_command(&["--endpoint-url", &moto, "--region", "us-east-1", "status"]).output().await.unwrap();
    assert_fails_clearly(&output, 1, "provisioner: no AWS credentials found");

    let mut unknown = provisioner_command(&["--region", "mars-east-1", "status"]);
    with_credentials(&mut unknown, "test", "test");
    assert_fails_clearly(&unknown.output().await.unwrap(), 1, "unknown region 'mars-east-1'");

    let mut no_region = provisioner_command(&["status"]);
    no_region.env("AWS_ACCESS_KEY_ID", "test").env("AWS_SECRET_ACCESS_KEY", "test");
    assert_fails_clearly(&no_region.output().await.unwrap(), 1, "no region");

    for bad in ["Bad_Name", "-x", "a--b", "x".repeat(40).as_str()] {
        let mut command = provisioner_command(&["--endpoint-url", &moto, "--stack", bad, "status"]);
        with_credentials(&mut command, "test", "test");
        let output = command.output().await.unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("invalid stack name") || stderr.contains("unexpected argument"), "{stderr}");
    }

    let mut destroy = provisioner_command(&["--endpoint-url", &moto, "--stack", &fresh_stack(), "destroy"]);
    with_credentials(&mut destroy, "test", "test");
    assert_fails_clearly(&destroy.output().await.unwrap(), 1, "pass --yes");

    let mut missing_binary =
        provisioner_command(&["--endpoint-url", &moto, "deploy", "--binary", "/nonexistent/runtime"]);
    with_credentials(&mut missing_binary, "test", "test");
    assert_fails_clearly(&missing_binary.output().await.unwrap(), 1, "cannot read /nonexistent/runtime");
}

/// A resource with the stack's name but without its tag is someone else's: deploy refuses to
/// adopt it and destroy leaves it alone.
#[tokio::test]
async fn a_name_taken_by_an_untagged_resource_is_refused_and_left_alone() {
    let Some(moto) = emulator() else { return };
    let aws = clients(&moto).await;
    let stack = fresh_stack();
    let theirs = format!("{stack}-entities");
    let spec = contract::tables::tables(&theirs, "unused", 0);
    aws.dynamodb
        .create_table()
        .table_name(&theirs)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .set_key_schema(Some(spec[0].key_schema()))
        .set_attribute_definitions(Some(spec[0].attribute_definitions()))
        .send()
        .await
        .unwrap();

    let mut deploy =
        provisioner_command(&["--endpoint-url", &moto, "--stack", &stack, "deploy", "--binary", SMALL_BINARY]);
    with_credentials(&mut deploy, "test", "test");
    let output = deploy.output().await.unwrap();
    assert_fails_clearly(&output, 1, &format!("dynamodb table '{theirs}' exists but is not part of stack '{stack}'"));

    let destroyed = provisioner(&moto, &stack, &["destroy", "--yes"]).await.unwrap();
    assert_eq!(outcome_of(&destroyed, "dynamodb table"), [Outcome::Foreign, Outcome::Absent]);
    assert!(aws.dynamodb.describe_table().table_name(&theirs).send().await.is_ok(), "their table is still there");
    aws.dynamodb.delete_table().table_name(&theirs).send().await.unwrap();
}

/// Against a moto that enforces IAM policies: an identity allowed ECR only gets one "access
/// denied" line naming the refused call — the first after the image: looking up the key ring's
/// secret (moto checks Secrets Manager's actions, whose signature it verifies).
#[tokio::test]
async fn access_denied_names_the_refused_call() {
    let Some(endpoint) = testkit::emulators::emulator_endpoint().and(std::env::var(AUTH_ENDPOINT_VAR).ok()) else {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            panic!("CI=true but {AUTH_ENDPOINT_VAR} is unset: run the tests through `cargo xtask test`");
        }
        return;
    };
    // That moto lets its first three requests through unauthenticated: they make the identity.
    let admin = clients_unchecked(&endpoint);
    admin.create_user().user_name("deployer").send().await.unwrap();
    let key = admin.create_access_key().user_name("deployer").send().await.unwrap().access_key.unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:GetCallerIdentity","ecr:*"],"Resource":"*"}]}"#;
    admin.put_user_policy().user_name("deployer").policy_name("ecr-only").policy_document(policy).send().await.unwrap();

    let stack = fresh_stack();
    let mut deploy =
        provisioner_command(&["--endpoint-url", &endpoint, "--stack", &stack, "deploy", "--binary", SMALL_BINARY]);
    with_credentials(&mut deploy, key.access_key_id(), key.secret_access_key());
    let output = deploy.output().await.unwrap();
    assert_fails_clearly(&output, 1, &format!("access denied: secretsmanager:DescribeSecret on {stack}-keys"));
}

/// An IAM client that does not call STS first (the enforcing moto counts every request).
fn clients_unchecked(endpoint: &str) -> aws_sdk_iam::Client {
    let config = aws_sdk_iam::Config::builder()
        .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_iam::config::Credentials::new("admin", "admin", None, None, "test"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_iam::Client::from_conf(config)
}

/// Ctrl-C in the middle of a deploy: one message, exit 130; the next deploy finishes the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_deploy_is_repaired_by_the_next() {
    let Some(moto) = emulator() else { return };
    let proxy = Proxy::start(&moto).await;
    proxy.slow_down(Duration::from_millis(150));
    let stack = fresh_stack();
    let mut deploy =
        provisioner_command(&["--endpoint-url", &proxy.url, "--stack", &stack, "deploy", "--binary", SMALL_BINARY]);
    with_credentials(&mut deploy, "test", "test");
    let mut child = deploy.stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        seen.push(line.clone());
        if line.starts_with("image") {
            break;
        }
    }
    let interrupted = Command::new("kill").args(["-INT", &child.id().unwrap().to_string()]).status().await.unwrap();
    assert!(interrupted.success());
    while let Some(line) = lines.next_line().await.unwrap() {
        seen.push(line);
    }
    let status = child.wait().await.unwrap();
    let stderr = seen.join("\n");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(seen.last().unwrap().starts_with("provisioner: interrupted"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    proxy.slow_down(Duration::ZERO);
    let before = provisioner(&moto, &stack, &["status"]).await.unwrap();
    assert!(before.has(Outcome::Missing), "the deploy was cut short: {before}");
    let repaired = provisioner(&moto, &stack, &["deploy", "--binary", SMALL_BINARY]).await.unwrap();
    assert!(repaired.endpoint.is_some());
    let after = provisioner(&moto, &stack, &["status"]).await.unwrap();
    assert!(after.resources.iter().all(|r| r.outcome == Outcome::Present), "{after}");
    provisioner(&moto, &stack, &["destroy", "--yes"]).await.unwrap();
}
