//! The image works: its layer, taken exactly as the provisioner pushed it, is unpacked into an
//! empty directory and its entrypoint runs there as the root (`chroot`: nothing of the host's
//! filesystem inside), under `cargo lambda watch` as the Lambda Runtime API, with DynamoDB (moto)
//! addressed by a host name through the `/etc/hosts` and `/etc/resolv.conf` that a container
//! runtime injects. moto's Lambda does not run images, so this is the test that the image runs.

mod support;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use support::*;
use testkit::lambda_events::call;
use testkit::proxy::Recorded;

/// The name DynamoDB is reached by from inside the image.
const DYNAMODB_HOST: &str = "dynamodb.emulator.internal";
/// The app's own HS256 identity-token secret.
const HS256_SECRET: &str = "the app's own HS256 secret, 32+ bytes";

/// Every blob pushed through the layer API, reassembled from its parts, by the digest the
/// registry computed for it.
fn pushed_blobs(requests: &[Recorded]) -> BTreeMap<String, Vec<u8>> {
    let mut parts: BTreeMap<String, Vec<(i64, Vec<u8>)>> = BTreeMap::new();
    let mut blobs = BTreeMap::new();
    for request in requests {
        let body = request.json();
        match request.operation.as_str() {
            "UploadLayerPart" => {
                let bytes =
                    base64::engine::general_purpose::STANDARD.decode(body["layerPartBlob"].as_str().unwrap()).unwrap();
                let first = body["partFirstByte"].as_i64().unwrap();
                parts.entry(body["uploadId"].as_str().unwrap().to_owned()).or_default().push((first, bytes));
            }
            "CompleteLayerUpload" => {
                let mut pieces = parts.remove(body["uploadId"].as_str().unwrap()).unwrap();
                pieces.sort_by_key(|(first, _)| *first);
                let computed: Value = serde_json::from_slice(&request.response).unwrap();
                blobs.insert(
                    computed["layerDigest"].as_str().unwrap().to_owned(),
                    pieces.into_iter().flat_map(|(_, b)| b).collect(),
                );
            }
            _ => {}
        }
    }
    blobs
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pushed_image_runs_in_an_empty_root_under_the_lambda_runtime_api() {
    let (Some(moto), Some(runtime_api), Some(binary)) =
        (emulator(), testkit::emulators::lambda_runtime_api(), release_runtime())
    else {
        return;
    };
    let proxy = Proxy::start(&moto).await;
    let stack = fresh_stack();
    let binary = binary.to_str().unwrap();
    let deployed = provisioner(&proxy.url, &stack, &["deploy", "--binary", binary]).await.unwrap();
    let blobs = pushed_blobs(&proxy.take());

    // The manifest the registry holds is a single-platform image whose blobs are exactly the
    // bytes pushed: each digest the manifest names is the one the registry computed.
    let aws = clients(&moto).await;
    let image_uri = deployed.resources.iter().find(|r| r.kind == "image").unwrap().id.clone().unwrap();
    let digest = image_uri.split_once('@').unwrap().1;
    let id = aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(digest).build();
    let images =
        aws.ecr.batch_get_image().repository_name(format!("{stack}-runtime")).image_ids(id).send().await.unwrap();
    let manifest_text = images.images()[0].image_manifest().unwrap();
    assert_eq!(sha256(manifest_text.as_bytes()), digest);
    let manifest: Value = serde_json::from_str(manifest_text).unwrap();
    assert_eq!(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert!(manifest.get("manifests").is_none(), "not an index");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    let layer_digest = layers[0]["digest"].as_str().unwrap();
    let layer = &blobs[layer_digest];
    assert_eq!(sha256(layer), layer_digest);
    assert_eq!(layers[0]["size"], layer.len());
    let config: Value = serde_json::from_slice(&blobs[manifest["config"]["digest"].as_str().unwrap()]).unwrap();
    assert_eq!((config["architecture"].as_str(), config["os"].as_str()), (Some("amd64"), Some("linux")));
    eprintln!("image: layer {} bytes compressed", layer.len());

    // Unpacked into an empty directory, with what a container runtime injects.
    let root = tempfile::tempdir().unwrap();
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(layer.as_slice()), &mut tar).unwrap();
    assert_eq!(sha256(&tar), config["rootfs"]["diff_ids"][0].as_str().unwrap(), "the diff id names the tarball");
    tar::Archive::new(tar.as_slice()).unpack(root.path()).unwrap();
    let port = moto.rsplit(':').next().unwrap();
    std::fs::write(root.path().join("etc/hosts"), format!("127.0.0.1 localhost\n127.0.0.1 {DYNAMODB_HOST}\n")).unwrap();
    std::fs::write(root.path().join("etc/resolv.conf"), "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        .unwrap();

    // The entrypoint and environment of the image and of the deployed function, as Lambda
    // combines them, plus the emulators' addresses and the credentials Lambda would inject.
    let entrypoint = config["config"]["Entrypoint"][0].as_str().unwrap();
    // The app mints its own HS256 identity tokens: their secret goes into the stack's secret,
    // never into the function's environment.
    let said = provisioner_set_hs256_secret(&moto, &stack, Some(HS256_SECRET)).await;
    assert!(said.contains("HS256 identity-token secret set"), "{said}");
    let function = aws.lambda.get_function_configuration().function_name(format!("{stack}-api")).send().await.unwrap();
    // Found before the environment is cleared: the child's PATH is empty.
    let chroot =
        ["/usr/sbin/chroot", "/sbin/chroot", "/usr/bin/chroot"].into_iter().find(|p| std::path::Path::new(p).exists());
    let mut command = tokio::process::Command::new(chroot.expect("chroot (coreutils) is installed"));
    command.arg(root.path()).arg(entrypoint).env_clear();
    for pair in config["config"]["Env"].as_array().unwrap() {
        let (key, value) = pair.as_str().unwrap().split_once('=').unwrap();
        command.env(key, value);
    }
    let mut function_process = command
        .envs(function.environment().unwrap().variables().unwrap())
        .env(contract::env::var::DYNAMODB_ENDPOINT, format!("http://{DYNAMODB_HOST}:{port}"))
        // The key ring is read from the secret deploy created, on moto's Secrets Manager (the
        // SDK's standard per-service endpoint variable).
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", format!("http://{DYNAMODB_HOST}:{port}"))
        // The emulator serialises every test's requests: give attempts the time it needs (moto
        // ignores the token that makes a retried transaction safe on DynamoDB).
        .env(
            contract::env::var::DYNAMODB_BUDGET_SECS,
            testkit::emulators::EMULATOR_OPERATION_BUDGET.as_secs().to_string(),
        )
        .env("AWS_LAMBDA_RUNTIME_API", format!("{runtime_api}/.rt"))
        .env("AWS_LAMBDA_FUNCTION_NAME", testkit::lambda_events::FUNCTION)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_SESSION_TOKEN", "test")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chroot into the image");

    // Users from the app's backend (deploy's default is auth_mode = "app"), with the server key
    // `provisioner server-key` prints, which the function read from the secret: then a direct
    // message → group message → poll, as API Gateway events.
    let http = reqwest::Client::new();
    let call = |method: &str, path: &str, token: Option<&str>, body: Option<Value>| {
        call(&http, &runtime_api, method, path, token, body)
    };
    let reply = tokio::time::timeout(Duration::from_secs(60), call("GET", "/health", None, None))
        .await
        .expect("the image answers");
    assert_eq!(reply.status, 200);
    let closed = call("POST", "/v1/users", None, Some(json!({"name": "mallory"}))).await;
    assert_eq!((closed.status, closed.body["error"]["code"].as_str()), (403, Some("registration_closed")));
    let server_key = provisioner_keys(&moto, &stack, &["server-key"]).await.unwrap();
    let mut sessions = Vec::new();
    for name in ["alice", "bob"] {
        let user = call("PUT", &format!("/v1/admin/users/app-{name}"), Some(&server_key), Some(json!({"name": name})));
        assert_eq!(user.await.status, 200);
        sessions.push(call("POST", &format!("/v1/admin/users/app-{name}/sessions"), Some(&server_key), None).await);
    }
    let variables = function.environment().unwrap().variables().unwrap();
    assert!(variables.values().all(|value| !value.contains(HS256_SECRET)), "{variables:?}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = json!({ "sub": "app-carol", "name": "carol", "exp": now + 300 });
    let key = jsonwebtoken::EncodingKey::from_secret(HS256_SECRET.as_bytes()).unwrap();
    let id_token = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap();
    let signed_in = call("POST", "/v1/sessions", None, Some(json!({ "id_token": id_token }))).await;
    assert_eq!((signed_in.status, signed_in.body["name"].as_str()), (201, Some("carol")), "{:?}", signed_in.body);
    let (alice, bob) = (&sessions[0], &sessions[1]);
    assert_eq!((alice.status, bob.status), (201, 201), "{:?}", alice.body);
    let (a, b) = (alice.body["token"].as_str().unwrap(), bob.body["token"].as_str().unwrap());
    let b_id = bob.body["id"].as_str().unwrap();
    let dm = call("POST", &format!("/v1/users/{b_id}/messages"), Some(a), Some(json!({"text": "hi bob"}))).await;
    assert_eq!(dm.status, 201, "{:?}", dm.body);
    let group = call("POST", "/v1/groups", Some(a), Some(json!({"name": "team"}))).await;
    let group_id = group.body["id"].as_str().unwrap();
    assert_eq!(call("PUT", &format!("/v1/groups/{group_id}/members/{b_id}"), Some(a), None).await.status, 204);
    let posted =
        call("POST", &format!("/v1/groups/{group_id}/messages"), Some(a), Some(json!({"text": "hello team"}))).await;
    assert_eq!(posted.status, 201, "{:?}", posted.body);
    let feed = call("GET", "/v1/messages", Some(b), None).await;
    assert_eq!(feed.status, 200);
    assert_eq!(feed.body["messages"], json!([dm.body, posted.body]));

    // What the binary inside reached, it reached by name: the tables hold what it wrote.
    let users = aws.dynamodb.scan().table_name(format!("{stack}-entities")).send().await.unwrap();
    assert!(users.count() >= 3, "two users and a group were written through {DYNAMODB_HOST}");

    function_process.start_kill().unwrap();
    let _ = function_process.wait().await;
    provisioner(&moto, &stack, &["destroy", "--yes"]).await.unwrap();
}
