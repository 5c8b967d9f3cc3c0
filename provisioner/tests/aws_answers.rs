//! What real AWS answers and moto does not: a proxy in front of the emulator answers some
//! requests the way the real service documents, and the provisioner must come through. Each
//! answer names the API reference page it follows.

mod support;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use provisioner::report::Outcome;
use serde_json::{Value, json};
use support::*;
use testkit::proxy::{Answer, BoxFuture, Bytes, Exchange, HeaderMap, HeaderValue, Hook, Proxy, StatusCode, Upstream};

/// The answers AWS gives that moto never does, each switched on by the test.
#[derive(Default)]
struct RealAnswers {
    /// `UpdateContinuousBackups` refusals left: DynamoDB API reference, UpdateContinuousBackups →
    /// `ContinuousBackupsUnavailableException` ("Backups have not yet been enabled for this
    /// table"), which a table created moments ago can answer.
    recovery_unavailable: AtomicU32,
    /// `DescribeTable` answers of `DELETING` after each `DeleteTable`: DynamoDB API reference,
    /// DeleteTable ("the table is in the DELETING state until DynamoDB completes the deletion").
    deleting_after_delete: AtomicU32,
    deleting: Mutex<Vec<(String, u32)>>,
    /// A table `DescribeTable` reports as `DELETING` whatever happens.
    always_deleting: Mutex<Option<String>>,
    /// `BatchGetImage` finds no image and `PutImage` answers `ImageAlreadyExistsException`: ECR
    /// API reference, PutImage ("the specified image has already been pushed") — another deploy
    /// pushed it in between.
    image_race: AtomicBool,
    /// `UpdateTimeToLive` refused: DynamoDB API reference, UpdateTimeToLive (a second change
    /// within the hour is a `ValidationException`).
    ttl_changed_recently: AtomicBool,
    /// `GetFunction` without `Tags`, as Lambda answers a caller not allowed `lambda:ListTags`
    /// (API reference, GetFunction → Tags); and `ListTags` itself denied.
    untagged_function: AtomicBool,
    deny_list_tags: AtomicBool,
    /// The function `Inactive`, as after weeks without an invocation ("Lambda function states").
    inactive: AtomicBool,
    /// `PutFunctionConcurrency` refused for the account's concurrency quota (API reference,
    /// PutFunctionConcurrency → InvalidParameterValueException).
    concurrency_quota: AtomicBool,
    /// The writes of a managed policy denied, as IAM answers a caller holding the deployer policy
    /// (IAM API reference, "Common Errors" → AccessDenied, HTTP 403).
    deny_boundary_writes: AtomicBool,
    /// `DescribeTable` reporting each table's `OnDemandThroughput` as `CreateTable` or
    /// `UpdateTable` last set it, -1 for a maximum never set (API reference, DescribeTable →
    /// TableDescription.OnDemandThroughput; OnDemandThroughput: -1 is "no maximum"), which moto
    /// neither keeps nor reports.
    report_ceilings: AtomicBool,
    ceilings: Mutex<std::collections::HashMap<String, Value>>,
}

/// What the deployer policy withholds: writing the permissions boundary.
const BOUNDARY_WRITES: [&str; 5] =
    ["CreatePolicy", "CreatePolicyVersion", "DeletePolicyVersion", "DeletePolicy", "ListPolicyVersions"];

/// IAM's query-protocol error document.
fn iam_access_denied(action: &str) -> Answer {
    let body = format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
         <Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/deployer is not authorized to \
         perform: iam:{action}</Message></Error><RequestId>0</RequestId></ErrorResponse>"
    );
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("text/xml"));
    Answer { status: StatusCode::FORBIDDEN, headers, body: Bytes::from(body) }
}

fn json_answer(status: u16, content_type: &'static str, body: Value) -> Answer {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    Answer { status: StatusCode::from_u16(status).unwrap(), headers, body: Bytes::from(body.to_string()) }
}

/// A Lambda (REST) error: its type in `x-amzn-errortype`, as Lambda sends it.
fn lambda_error(status: u16, kind: &'static str, message: &str) -> Answer {
    let mut answer = json_answer(status, "application/json", json!({ "Type": "User", "message": message }));
    answer.headers.insert("x-amzn-errortype", HeaderValue::from_static(kind));
    answer
}

/// Whether the request is `GetFunction` (`GET /2015-03-31/functions/<name>`, nothing after it).
fn is_get_function(operation: &str) -> bool {
    operation.strip_prefix("GET /2015-03-31/functions/").is_some_and(|rest| !rest.contains('/'))
}

const DYNAMODB_JSON: &str = "application/x-amz-json-1.0";
const ECR_JSON: &str = "application/x-amz-json-1.1";

fn table_deleting(name: &str) -> Answer {
    let arn = format!("arn:aws:dynamodb:us-east-1:123456789012:table/{name}");
    json_answer(
        200,
        DYNAMODB_JSON,
        json!({ "Table": { "TableName": name, "TableArn": arn, "TableStatus": "DELETING" } }),
    )
}

/// Takes one from a counter, if any is left.
fn take(counter: &AtomicU32) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1)).is_ok()
}

impl RealAnswers {
    fn answer_for(&self, request: &Exchange) -> Option<Answer> {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let table = body["TableName"].as_str().unwrap_or_default().to_owned();
        if matches!(request.operation().as_str(), "CreateTable" | "UpdateTable")
            && body["OnDemandThroughput"].is_object()
        {
            self.ceilings.lock().unwrap().insert(table.clone(), body["OnDemandThroughput"].clone());
        }
        match request.operation().as_str() {
            "UpdateContinuousBackups" if take(&self.recovery_unavailable) => {
                let error = "com.amazonaws.dynamodb.v20120810#ContinuousBackupsUnavailableException";
                let message = "Backups are being enabled for the table: retry later";
                Some(json_answer(400, DYNAMODB_JSON, json!({ "__type": error, "message": message })))
            }
            "DeleteTable" => {
                let times = self.deleting_after_delete.load(Ordering::SeqCst);
                self.deleting.lock().unwrap().push((table, times));
                None
            }
            "DescribeTable" if self.always_deleting.lock().unwrap().as_deref() == Some(table.as_str()) => {
                Some(table_deleting(&table))
            }
            "DescribeTable" => {
                let mut deleting = self.deleting.lock().unwrap();
                let left = deleting.iter_mut().find(|(name, left)| *name == table && *left > 0)?;
                left.1 -= 1;
                Some(table_deleting(&table))
            }
            "UpdateTimeToLive" if self.ttl_changed_recently.load(Ordering::SeqCst) => {
                let error = "com.amazon.coral.validate#ValidationException";
                let message = "Time to live has been modified multiple times within a fixed interval";
                Some(json_answer(400, DYNAMODB_JSON, json!({ "__type": error, "message": message })))
            }
            operation
                if operation.starts_with("GET /2017-03-31/tags/") && self.deny_list_tags.load(Ordering::SeqCst) =>
            {
                let message = "User is not authorized to perform: lambda:ListTags";
                Some(lambda_error(403, "AccessDeniedException", message))
            }
            operation
                if operation.starts_with("PUT /2017-10-31/functions/")
                    && operation.ends_with("/concurrency")
                    && self.concurrency_quota.load(Ordering::SeqCst) =>
            {
                let message = "Specified ReservedConcurrentExecutions for function decreases account's \
                               UnreservedConcurrentExecution below its minimum value of [10].";
                Some(lambda_error(400, "InvalidParameterValueException", message))
            }
            action if BOUNDARY_WRITES.contains(&action) && self.deny_boundary_writes.load(Ordering::SeqCst) => {
                Some(iam_access_denied(action))
            }
            "BatchGetImage" if self.image_race.load(Ordering::SeqCst) => {
                Some(json_answer(200, ECR_JSON, json!({ "images": [], "failures": [] })))
            }
            "PutImage" if self.image_race.load(Ordering::SeqCst) => {
                let message = "Image with digest already exists";
                Some(json_answer(400, ECR_JSON, json!({ "__type": "ImageAlreadyExistsException", "message": message })))
            }
            _ => None,
        }
    }
}

impl RealAnswers {
    /// `GetFunction`'s answer as Lambda gives it in the switched-on cases.
    fn rewrite(&self, request: &Exchange, mut answer: Answer) -> Answer {
        if request.operation() == "DescribeTable"
            && answer.status == StatusCode::OK
            && self.report_ceilings.load(Ordering::SeqCst)
        {
            let mut body: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
            let table = body["Table"]["TableName"].as_str().unwrap_or_default().to_owned();
            let none = json!({ "MaxReadRequestUnits": -1, "MaxWriteRequestUnits": -1 });
            let set = self.ceilings.lock().unwrap().get(&table).cloned().unwrap_or(none);
            body["Table"]["OnDemandThroughput"] = set;
            answer.body = Bytes::from(body.to_string());
            return answer;
        }
        if !is_get_function(&request.operation()) || answer.status != StatusCode::OK {
            return answer;
        }
        let mut body: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        if self.untagged_function.load(Ordering::SeqCst) {
            body.as_object_mut().unwrap().remove("Tags");
        }
        if self.inactive.load(Ordering::SeqCst) {
            body["Configuration"]["State"] = json!("Inactive");
        }
        answer.body = Bytes::from(body.to_string());
        answer
    }
}

struct Shared(std::sync::Arc<RealAnswers>);

impl Hook for Shared {
    fn answer<'a>(&'a self, request: &'a Exchange, upstream: &'a Upstream) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match self.0.answer_for(request) {
                Some(answer) => answer,
                None => self.0.rewrite(request, upstream.forward(request).await),
            }
        })
    }
}

fn outcome_of(report: &provisioner::report::Report, kind: &str) -> Vec<Outcome> {
    report.resources.iter().filter(|r| r.kind == kind).map(|r| r.outcome).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_and_destroy_come_through_what_real_aws_answers() {
    let Some(moto) = emulator() else { return };
    let answers = std::sync::Arc::new(RealAnswers::default());
    let proxy = Proxy::recording(&moto, std::sync::Arc::new(Shared(answers.clone()))).await;
    let stack = fresh_stack();
    let deploy = ["deploy", "--binary", SMALL_BINARY];

    // A dry run of a new stack names no ARN it cannot know yet (an invoke permission's source is
    // its API's, which does not exist).
    let dry = provisioner(&proxy.url, &stack, &["deploy", "--dry-run", "--binary", SMALL_BINARY]).await.unwrap();
    let ids: Vec<&str> = dry.resources.iter().filter_map(|r| r.id.as_deref()).collect();
    assert!(ids.iter().all(|id| !id.contains(":/*") && !id.starts_with('@')), "{ids:?}");

    // Point-in-time recovery refused twice on a new table: retried, then on.
    answers.recovery_unavailable.store(2, Ordering::SeqCst);
    provisioner(&proxy.url, &stack, &deploy).await.expect("deploy retries point-in-time recovery");
    assert_eq!(proxy.seen("UpdateContinuousBackups"), 4, "2 refused, then once per table");
    // Every `BatchGetImage` names the OCI manifest type the image is pushed with (ECR API
    // reference, BatchGetImage → acceptedMediaTypes).
    let lookups: Vec<Value> =
        proxy.take().iter().filter(|r| r.operation == "BatchGetImage").map(|r| r.json()).collect();
    assert!(!lookups.is_empty());
    for lookup in &lookups {
        assert_eq!(lookup["acceptedMediaTypes"], json!(["application/vnd.oci.image.manifest.v1+json"]), "{lookup}");
    }

    // The repository policy lets Lambda pull for this function, in the documented source-ARN form
    // (`…:function:<name>*`); a statement Lambda adds beside it is no drift, and stays.
    let aws = clients(&moto).await;
    let repository = format!("{stack}-runtime");
    let policy = |text: Option<String>| -> Value { serde_json::from_str(&text.unwrap_or_default()).unwrap() };
    let ours = policy(aws.ecr.get_repository_policy().repository_name(&repository).send().await.unwrap().policy_text);
    let source = ours["Statement"][0]["Condition"]["StringLike"]["aws:sourceArn"].as_str().unwrap().to_owned();
    assert!(source.ends_with(&format!(":function:{stack}-api*")), "{source}");
    let lambdas = json!({
        "Sid": "LambdaECRImageRetrievalPolicy",
        "Effect": "Allow",
        "Principal": { "Service": "lambda.amazonaws.com" },
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
    });
    let both = json!({ "Version": "2012-10-17", "Statement": [ours["Statement"][0].clone(), lambdas.clone()] });
    let set = aws.ecr.set_repository_policy().repository_name(&repository).policy_text(both.to_string());
    set.send().await.unwrap();

    // The image pushed by someone else in between: `PutImage` refused as already there is the
    // image in place, not a failure.
    answers.image_race.store(true, Ordering::SeqCst);
    let raced = provisioner(&proxy.url, &stack, &deploy).await.expect("an image already there is no failure");
    assert_eq!(outcome_of(&raced, "image"), [Outcome::Unchanged], "{raced}");
    assert_eq!(proxy.seen("PutImage"), 2, "pushed by the first deploy, refused to the second");
    assert_eq!(outcome_of(&raced, "ecr repository"), [Outcome::Unchanged], "Lambda's statement is no drift");
    let kept = policy(aws.ecr.get_repository_policy().repository_name(&repository).send().await.unwrap().policy_text);
    assert!(kept["Statement"].as_array().unwrap().contains(&lambdas), "{kept}");
    answers.image_race.store(false, Ordering::SeqCst);

    // `GetFunction` without tags (no `lambda:ListTags` in its answer): the tags are asked for, and
    // the function is still the stack's; with `ListTags` denied, the error names the permission.
    answers.untagged_function.store(true, Ordering::SeqCst);
    let listed = proxy.seen_matching("GET /2017-03-31/tags/");
    let unchanged = provisioner(&proxy.url, &stack, &deploy).await.expect("the function is still ours");
    assert_eq!(outcome_of(&unchanged, "lambda function"), [Outcome::Unchanged], "{unchanged}");
    assert!(proxy.seen_matching("GET /2017-03-31/tags/") > listed, "ListTags asked");
    answers.deny_list_tags.store(true, Ordering::SeqCst);
    let denied = provisioner(&proxy.url, &stack, &deploy).await.expect_err("ListTags denied");
    assert!(denied.to_string().contains("lambda:ListTags"), "{denied}");
    answers.untagged_function.store(false, Ordering::SeqCst);
    answers.deny_list_tags.store(false, Ordering::SeqCst);

    // An `Inactive` function: `status` says so, and deploy wakes it by deploying its image again.
    answers.inactive.store(true, Ordering::SeqCst);
    let status = provisioner(&proxy.url, &stack, &["status"]).await.unwrap();
    let function = status.resources.iter().find(|r| r.kind == "lambda function").unwrap();
    assert_eq!((function.outcome, function.changes.clone()), (Outcome::Drifted, vec!["inactive".to_owned()]));
    let update_code = format!("PUT /2015-03-31/functions/{stack}-api/code");
    let code_updates = proxy.seen(&update_code);
    let woken = provisioner(&proxy.url, &stack, &deploy).await.unwrap();
    assert_eq!(outcome_of(&woken, "lambda function"), [Outcome::Updated], "{woken}");
    assert_eq!(proxy.seen(&update_code), code_updates + 1, "the image deployed again");
    answers.inactive.store(false, Ordering::SeqCst);

    // Reserved concurrency on an account whose quota cannot spare it: the message names the quota.
    answers.concurrency_quota.store(true, Ordering::SeqCst);
    let reserved = ["deploy", "--binary", SMALL_BINARY, "--reserved-concurrency", "5"];
    let refused = provisioner(&proxy.url, &stack, &reserved).await.expect_err("over the quota");
    assert!(refused.to_string().contains("Concurrent executions"), "{refused}");
    answers.concurrency_quota.store(false, Ordering::SeqCst);

    // A TTL changed twice within the hour: one clear refusal, the request sent once.
    answers.ttl_changed_recently.store(true, Ordering::SeqCst);
    let ttl_changes = proxy.seen("UpdateTimeToLive");
    let retention = ["deploy", "--binary", SMALL_BINARY, "--feed-ttl-days", "7"];
    let refused = provisioner(&proxy.url, &stack, &retention).await.expect_err("DynamoDB refuses the change");
    assert!(refused.to_string().contains("less than an hour ago"), "{refused}");
    assert_eq!(proxy.seen("UpdateTimeToLive") - ttl_changes, 1, "not retried");
    answers.ttl_changed_recently.store(false, Ordering::SeqCst);

    // Destroy waits while DynamoDB still reports the tables `DELETING`, so that nothing of them
    // is left for a `status` or `deploy` right after.
    answers.deleting_after_delete.store(2, Ordering::SeqCst);
    let described = proxy.seen("DescribeTable");
    let destroyed = provisioner(&proxy.url, &stack, &["destroy", "--yes"]).await.unwrap();
    assert!(destroyed.resources.iter().all(|r| r.outcome == Outcome::Deleted), "{destroyed}");
    // Per table: the observation, two answers of DELETING, then not found.
    assert_eq!(proxy.seen("DescribeTable") - described, 2 * 4);
    let status = provisioner(&proxy.url, &stack, &["status"]).await.unwrap();
    assert_eq!(outcome_of(&status, "dynamodb table"), [Outcome::Missing, Outcome::Missing], "{status}");

    // A deploy that finds a table still being deleted says so instead of failing on it.
    *answers.always_deleting.lock().unwrap() = Some(format!("{stack}-entities"));
    let refused = provisioner(&proxy.url, &stack, &deploy).await.expect_err("a table being deleted");
    assert!(refused.to_string().contains("being deleted"), "{refused}");
    *answers.always_deleting.lock().unwrap() = None;
    provisioner(&proxy.url, &stack, &["destroy", "--yes"]).await.unwrap();
}

/// The deployer policy withholds writing the permissions boundary: a deployer's first deploy on
/// an account without it says an administrator's deploy creates it and creates nothing before
/// it that needs it; once it exists the deployer deploys, and their `destroy` keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployer_never_writes_the_permissions_boundary() {
    let Some(moto) = emulator() else { return };
    let answers = std::sync::Arc::new(RealAnswers::default());
    let proxy = Proxy::recording(&moto, std::sync::Arc::new(Shared(answers.clone()))).await;
    let stack = fresh_stack();
    let deploy = ["deploy", "--binary", SMALL_BINARY];

    answers.deny_boundary_writes.store(true, Ordering::SeqCst);
    let refused = provisioner(&proxy.url, &stack, &deploy).await.expect_err("no boundary yet");
    let refused = refused.to_string();
    assert!(refused.contains("iam:CreatePolicy") && refused.contains("administrator"), "{refused}");
    assert_eq!(proxy.seen("CreateRole"), 0, "no role without its boundary");

    answers.deny_boundary_writes.store(false, Ordering::SeqCst);
    provisioner(&proxy.url, &stack, &deploy).await.expect("an administrator's deploy");
    answers.deny_boundary_writes.store(true, Ordering::SeqCst);
    let again = provisioner(&proxy.url, &stack, &deploy).await.expect("the deployer's deploy");
    assert!(again.resources.iter().all(|r| r.outcome == Outcome::Unchanged), "{again}");
    let destroyed = provisioner(&proxy.url, &stack, &["destroy", "--yes"]).await.unwrap();
    assert_eq!(outcome_of(&destroyed, "permissions boundary"), [Outcome::Kept], "{destroyed}");
    let others = destroyed.resources.iter().filter(|r| r.kind != "permissions boundary");
    assert!(others.into_iter().all(|r| r.outcome == Outcome::Deleted), "{destroyed}");

    answers.deny_boundary_writes.store(false, Ordering::SeqCst);
    let destroyed = provisioner(&proxy.url, &stack, &["destroy", "--yes"]).await.unwrap();
    assert_eq!(outcome_of(&destroyed, "permissions boundary"), [Outcome::Deleted], "{destroyed}");
}

/// The tables' on-demand maximum throughput follows the settings: set by `CreateTable`, changed by
/// `UpdateTable` when `DescribeTable` reports another (-1 both ways for none), left alone when it
/// reports the configured one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tables_maximum_throughput_follows_the_settings() {
    let Some(moto) = emulator() else { return };
    let answers = std::sync::Arc::new(RealAnswers::default());
    answers.report_ceilings.store(true, Ordering::SeqCst);
    let proxy = Proxy::recording(&moto, std::sync::Arc::new(Shared(answers.clone()))).await;
    let stack = fresh_stack();
    let sent = |operation: &str, recorded: &[testkit::proxy::Recorded]| -> Vec<Value> {
        recorded.iter().filter(|r| r.operation == operation).map(|r| r.json()["OnDemandThroughput"].clone()).collect()
    };
    let deploy = |extra: &'static [&'static str]| {
        let mut args = vec!["deploy", "--binary", SMALL_BINARY];
        args.extend(extra);
        let (url, stack) = (proxy.url.clone(), stack.clone());
        async move { provisioner(&url, &stack, &args).await.unwrap() }
    };
    let built_in = json!({ "MaxReadRequestUnits": 40000, "MaxWriteRequestUnits": 40000 });

    deploy(&[]).await;
    assert_eq!(sent("CreateTable", &proxy.take()), [built_in.clone(), built_in.clone()], "the built-in maximum");
    let again = deploy(&[]).await;
    assert_eq!(outcome_of(&again, "dynamodb table"), [Outcome::Unchanged, Outcome::Unchanged], "{again}");
    assert!(sent("UpdateTable", &proxy.take()).is_empty());

    let lower = deploy(&["--table-max-read-units", "1000"]).await;
    assert_eq!(outcome_of(&lower, "dynamodb table"), [Outcome::Updated, Outcome::Updated], "{lower}");
    let changed = json!({ "MaxReadRequestUnits": 1000, "MaxWriteRequestUnits": 40000 });
    assert_eq!(sent("UpdateTable", &proxy.take()), [changed.clone(), changed]);
    let status = provisioner(&proxy.url, &stack, &["status"]).await.unwrap();
    let table = status.resources.iter().find(|r| r.kind == "dynamodb table").unwrap();
    assert_eq!(table.changes, ["maximum throughput 40000 read / 40000 write units per second"], "{status}");

    deploy(&["--table-max-read-units", "0", "--table-max-write-units", "0"]).await;
    let none = json!({ "MaxReadRequestUnits": -1, "MaxWriteRequestUnits": -1 });
    assert_eq!(sent("UpdateTable", &proxy.take()), [none.clone(), none], "0: the maximum removed");
    provisioner(&proxy.url, &stack, &["destroy", "--yes"]).await.unwrap();
}
