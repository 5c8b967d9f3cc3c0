//! The key ring of the real binary: an older version's key file becomes the ring's first key
//! (its cursors keep working, its never-expiring tokens do not), `runtime server-key` prints the
//! server API's key, and `runtime keys rotate` logs nobody out.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use messaging_tests::process::Server;
use messaging_tests::transport::{Http, Transport};
use runtime::domain::{Cursor, Keys, Seq, UserId};
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_runtime");

async fn start(data_dir: &Path) -> Server {
    Server::start(Path::new(BINARY), &["--data-dir".as_ref(), data_dir.as_os_str()]).await
}

/// `runtime <args> --data-dir <dir>`'s standard output, which must succeed.
fn run(args: &[&str], data_dir: &Path) -> String {
    let output = std::process::Command::new(BINARY)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove(contract::env::var::TOKEN_KEY)
        .env_remove(contract::env::var::SERVER_KEY)
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

async fn call(api: &Http, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    api.call(method, path, token, body).await
}

#[tokio::test]
async fn an_older_key_file_becomes_the_rings_first_key() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = Keys::generate();
    std::fs::write(dir.path().join("server.key"), format!("{}\n", legacy.to_hex())).unwrap();
    let server = start(dir.path()).await;
    let api = Http::new(&server.base);
    let (_, user) = call(&api, "POST", "/v1/users", None, Some(json!({"name": "old"}))).await;
    let (id, token) = (user["id"].as_str().unwrap(), user["access_token"].as_str().unwrap());

    // A cursor the old version issued still reads the feed.
    let old_cursor = legacy.encode_cursor(&UserId::parse(id).unwrap(), Cursor(Seq::START));
    let (status, _) = call(&api, "GET", &format!("/v1/messages?after={old_cursor}"), Some(token), None).await;
    assert_eq!(status, 200);
    // A token of the old version (`<user>.<MAC>`, never expiring) must sign in again.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&hex::decode(legacy.to_hex()).unwrap()).unwrap();
    mac.update(b"token/v1\0");
    mac.update(id.as_bytes());
    let old_token = format!("{id}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
    let (status, body) = call(&api, "GET", "/v1/messages", Some(&old_token), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("token_expired")));

    assert!(!dir.path().join("server.key").exists(), "the old key file is folded into the ring");
    let ring = dir.path().join("keys.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&ring).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&ring).unwrap();
    assert!(text.contains(&legacy.to_hex()), "the old key is the ring's first key");
    server.kill_hard().await;
}

#[tokio::test]
async fn the_server_key_is_printed_and_rotation_logs_nobody_out() {
    let dir = tempfile::tempdir().unwrap();
    let server_key = run(&["server-key"], dir.path()).trim().to_owned();
    assert!(server_key.starts_with("sk_") && server_key.len() == 67, "{server_key}");
    assert_eq!(run(&["server-key"], dir.path()).trim(), server_key, "printed again, not made again");

    let server = start(dir.path()).await;
    let api = Http::new(&server.base);
    let (status, made) =
        call(&api, "PUT", "/v1/admin/users/backend-1", Some(&server_key), Some(json!({"name": "Bo"}))).await;
    assert_eq!(status, 200, "{made}");
    let (status, session) = call(&api, "POST", "/v1/admin/users/backend-1/sessions", Some(&server_key), None).await;
    assert_eq!(status, 201, "{session}");
    let (_, page) = call(&api, "GET", "/v1/messages", session["access_token"].as_str(), None).await;
    let cursor = page["next"].as_str().unwrap().to_owned();
    server.kill_hard().await;

    let rotated = run(&["keys", "rotate"], dir.path());
    assert!(rotated.starts_with("new signing key "), "{rotated}");
    let server = start(dir.path()).await;
    let api = Http::new(&server.base);
    let token = session["access_token"].as_str().unwrap();
    let (status, _) = call(&api, "GET", &format!("/v1/messages?after={cursor}"), Some(token), None).await;
    assert_eq!(status, 200, "the old key's token and cursor still work");
    let (status, renewed) =
        call(&api, "POST", "/v1/sessions/refresh", None, Some(json!({"refresh_token": session["refresh_token"]})))
            .await;
    assert_eq!(status, 200, "{renewed}");
    let key_id = |token: &str| token.split('.').next().unwrap().to_owned();
    assert_ne!(key_id(renewed["access_token"].as_str().unwrap()), key_id(token), "the new key signs");
    assert!(rotated.contains(&key_id(renewed["access_token"].as_str().unwrap())), "{rotated}");
    server.kill_hard().await;
}
