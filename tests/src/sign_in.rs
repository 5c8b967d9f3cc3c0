//! Sign-in with the app's identity provider (`POST /v1/sessions`), against a real JWKS served on
//! loopback by the test: the same `sub` is the same user, every failed check is refused with its
//! reason, keys rotate, unknown keys refetch at most once a minute, HS256 takes only the shared
//! secret, and an unreachable provider is the server's 503, not the client's 401.

use serde_json::{Value, json};

use crate::Backend;
use crate::client::{Reply, TestApp};
use crate::identity_provider::{AUDIENCE, ISSUER, SigningKey, TestIdentityProvider, claims, sign_hs256};
use runtime::identity::{IdentityOptions, IdentityProvider};

async fn sign_in(app: &TestApp, id_token: &str) -> Reply {
    app.call("POST", "/v1/sessions", None, Some(&json!({ "id_token": id_token }).to_string())).await
}

/// `auth_mode = "app"` (registration closed) taking this provider's tokens.
fn app_with(backend: &Backend, identity: IdentityProvider) -> TestApp {
    let sessions = runtime::SessionPolicy { open_registration: false, ..TestApp::default_sessions() };
    TestApp::with_identity(backend, 1000, None, sessions, Some(identity))
}

#[track_caller]
fn assert_refused(reply: &Reply, reason: &str) {
    reply.assert_error(401, "invalid_id_token");
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains(reason), "expected {reason:?} in {message:?}");
}

pub async fn identity_tokens_sign_in_the_same_user_each_time(backend: &Backend) {
    let (rsa, ec) = (SigningKey::rsa("rsa-1"), SigningKey::ec("ec-1"));
    let idp = TestIdentityProvider::start(&[&rsa, &ec]).await;
    let app = app_with(backend, idp.verifier());
    app.call("POST", "/v1/users", None, Some(r#"{"name":"x"}"#)).await.assert_error(403, "registration_closed");

    let first = sign_in(&app, &rsa.sign(&claims("auth0|ada", Some("Ada")))).await.assert_status(201).clone();
    let mut keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["access_token", "expires_in", "id", "name", "refresh_token", "token"]);
    assert_eq!(first["name"], "Ada");
    let id = first["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("u_"), "user ids stay opaque: {id}");

    // The same sub through the other key type is the same user, renamed by the new name claim.
    let again = sign_in(&app, &ec.sign(&claims("auth0|ada", Some("Ada L.")))).await.assert_status(201).clone();
    assert_eq!((again["id"].as_str().unwrap(), again["name"].as_str().unwrap()), (id.as_str(), "Ada L."));
    assert_ne!(again["refresh_token"], first["refresh_token"], "each sign-in is its own session");
    let token = again["access_token"].as_str().unwrap();
    let profile = app.get(&format!("/v1/users/{id}"), token).await.assert_status(200).clone();
    assert_eq!(profile["name"], "Ada L.");
    assert!(!profile.to_string().contains("auth0|ada"), "the app's id is never shown: {profile}");
    // Without a name claim the name stays; a new user without one is named by their opaque id.
    let same = sign_in(&app, &rsa.sign(&claims("auth0|ada", None))).await.assert_status(201).clone();
    assert_eq!(same["name"], "Ada L.");
    let nameless = sign_in(&app, &rsa.sign(&claims("auth0|bob", None))).await.assert_status(201).clone();
    assert_eq!(nameless["name"], nameless["id"]);
    // The session is a session like any other: it refreshes.
    let body = json!({ "refresh_token": first["refresh_token"] }).to_string();
    app.call("POST", "/v1/sessions/refresh", None, Some(&body)).await.assert_status(200);
    // The server API sees the same user under the app's id.
    let path = "/v1/admin/users/auth0%7Cada/sessions";
    let by_backend = app.call("POST", path, Some(&app.server_key), None).await.assert_status(201).clone();
    assert_eq!(by_backend["id"], json!(id));
}

pub async fn every_failed_check_is_refused_with_its_reason(backend: &Backend) {
    let (rsa, ec, stranger) = (SigningKey::rsa("rsa-1"), SigningKey::ec("ec-1"), SigningKey::rsa("rsa-1"));
    let idp = TestIdentityProvider::start(&[&rsa, &ec]).await;
    let app = app_with(backend, idp.verifier());
    let now = runtime::domain::session::now();
    let with = |key: &str, value: Value| {
        let mut c = claims("auth0|ada", Some("Ada"));
        c[key] = value;
        c
    };
    let without = |key: &str| {
        let mut c = claims("auth0|ada", Some("Ada"));
        c.as_object_mut().unwrap().remove(key);
        c
    };
    let b64 = |v: Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let unsigned = format!("{}.{}.", b64(json!({ "alg": "none", "typ": "JWT" })), b64(claims("auth0|ada", None)));
    let oversized = rsa.sign(&with("padding", json!("x".repeat(9000))));
    let cases: Vec<(&str, String, &str)> = vec![
        ("expired past the leeway", rsa.sign(&with("exp", json!(now - 120))), "expired (exp)"),
        ("not valid yet", rsa.sign(&with("nbf", json!(now + 600))), "not valid yet (nbf)"),
        ("another issuer", rsa.sign(&with("iss", json!("https://evil.test/"))), "issuer (iss)"),
        ("another app's token", ec.sign(&with("aud", json!("another-app"))), "audience (aud)"),
        ("no exp", rsa.sign(&without("exp")), "no exp claim"),
        ("no sub", rsa.sign(&without("sub")), "no sub claim"),
        ("no aud", rsa.sign(&without("aud")), "no aud claim"),
        ("a sub that is not a string", rsa.sign(&with("sub", json!(42))), "sub"),
        ("an empty sub", rsa.sign(&with("sub", json!(""))), "not a valid app user id"),
        ("signed by a stranger's key of the same kid", stranger.sign(&claims("auth0|ada", None)), "signature"),
        ("a kid the provider never had", rsa.sign_as("rsa-9", &claims("auth0|ada", None)), "\"rsa-9\" is not in"),
        ("RS256 naming the EC key", rsa.sign_as("ec-1", &claims("auth0|ada", None)), "but its key is for ES256"),
        (
            "HS256 keyed with the provider's public key",
            sign_hs256(rsa.public_pem.as_bytes(), &claims("auth0|ada", None)),
            "HS256 tokens are not accepted",
        ),
        ("alg none", unsigned, "not a well-formed JWT"),
        ("garbage", "not.a.jwt".into(), "not a well-formed JWT"),
        ("oversized", oversized, "larger than 8 KiB"),
    ];
    for (case, token, reason) in &cases {
        let reply = sign_in(&app, token).await;
        assert_eq!(reply.status.as_u16(), 401, "{case}: {}", reply.body);
        assert_refused(&reply, reason);
    }
    // Within the leeway (60 s) an expired token still passes: clocks differ.
    sign_in(&app, &rsa.sign(&with("exp", json!(now - 30)))).await.assert_status(201);
    app.call("POST", "/v1/sessions", None, Some("{}")).await.assert_error(422, "invalid_body");
}

pub async fn keys_rotate_and_unknown_keys_refetch_at_most_once_a_minute(backend: &Backend) {
    let (old, new) = (SigningKey::rsa("2026-01"), SigningKey::ec("2026-02"));
    let idp = TestIdentityProvider::start(&[&old]).await;
    let app = app_with(backend, idp.verifier());
    assert_eq!(idp.fetches(), 0, "fetched when first needed, not before");
    sign_in(&app, &old.sign(&claims("auth0|ada", None))).await.assert_status(201);
    sign_in(&app, &old.sign(&claims("auth0|ada", None))).await.assert_status(201);
    assert_eq!(idp.fetches(), 1, "the set is cached");

    // The provider rotates: a token of the new key makes one refetch, and verifies.
    idp.publish(&[&new]);
    sign_in(&app, &new.sign(&claims("auth0|ada", None))).await.assert_status(201);
    assert_eq!(idp.fetches(), 2);
    // Within the minute, unknown kids do not reach the provider again; the retired key is gone.
    for _ in 0..5 {
        assert_refused(&sign_in(&app, &new.sign_as("made-up", &claims("auth0|ada", None))).await, "not in");
    }
    assert_refused(&sign_in(&app, &old.sign(&claims("auth0|ada", None))).await, "not in");
    assert_eq!(idp.fetches(), 2, "at most one refetch a minute");
    sign_in(&app, &new.sign(&claims("auth0|ada", None))).await.assert_status(201);
}

pub async fn hs256_tokens_verify_with_the_shared_secret_only(backend: &Backend) {
    let secret = "a shared secret of at least thirty-two bytes";
    let identity = IdentityProvider::new(IdentityOptions {
        jwks_url: None,
        hs256_secret: Some(secret.into()),
        issuer: None,
        audience: None,
        leeway_secs: 60,
        name_claim: "nickname".into(),
    })
    .unwrap()
    .unwrap();
    let app = app_with(backend, identity);
    let mut own = json!({ "sub": "42", "nickname": "Grace", "exp": runtime::domain::session::now() + 60 });
    let session = sign_in(&app, &sign_hs256(secret.as_bytes(), &own)).await.assert_status(201).clone();
    assert_eq!(session["name"], "Grace", "named by the configured claim");
    assert_refused(&sign_in(&app, &sign_hs256(b"another secret of thirty-two bytes!!", &own)).await, "signature");
    let rsa = SigningKey::rsa("rsa-1");
    assert_refused(&sign_in(&app, &rsa.sign(&claims("42", None))).await, "RS256 tokens are not accepted");
    own.as_object_mut().unwrap().remove("exp");
    assert_refused(&sign_in(&app, &sign_hs256(secret.as_bytes(), &own)).await, "no exp claim");

    // Settings that could not be safe refuse to start.
    let options = |secret: Option<&str>, jwks: Option<&str>, issuer: Option<&str>| IdentityOptions {
        jwks_url: jwks.map(|url| runtime::identity::jwks_url(url).unwrap()),
        hs256_secret: secret.map(str::to_owned),
        issuer: issuer.map(str::to_owned),
        audience: issuer.map(|_| AUDIENCE.to_owned()),
        leeway_secs: 60,
        name_claim: "name".into(),
    };
    assert!(IdentityProvider::new(options(Some("short"), None, None)).is_err(), "a secret under 32 bytes");
    assert!(
        IdentityProvider::new(options(None, Some("https://idp.test/jwks"), None)).is_err(),
        "a JWKS without iss/aud"
    );
    assert!(IdentityProvider::new(options(None, Some("https://idp.test/jwks"), Some(ISSUER))).unwrap().is_some());
    assert!(IdentityProvider::new(options(None, None, None)).unwrap().is_none(), "nothing configured: no provider");
}

pub async fn an_unreachable_provider_is_a_503_and_no_provider_a_401(backend: &Backend) {
    let key = SigningKey::ec("ec-1");
    let idp = TestIdentityProvider::start(&[&key]).await;
    idp.set_down(true);
    let app = app_with(backend, idp.verifier());
    let reply = sign_in(&app, &key.sign(&claims("auth0|ada", None))).await;
    reply.assert_error(503, "identity_provider_unavailable");
    let retry_after: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    // Within the minute the provider is not asked again, whatever the clients do.
    sign_in(&app, &key.sign(&claims("auth0|ada", None))).await.assert_error(503, "identity_provider_unavailable");
    assert_eq!(idp.fetches(), 1);

    let closed = TestApp::new(backend);
    assert_refused(&sign_in(&closed, &key.sign(&claims("auth0|ada", None))).await, "no identity provider");
}
