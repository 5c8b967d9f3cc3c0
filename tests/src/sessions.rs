//! The session routes and the server API, in-process: the one session shape, refresh rotation
//! and reuse detection, logout, expiry, `auth_mode = "app"`, and which credential opens what.

use serde_json::{Value, json};

use crate::Backend;
use crate::client::{Reply, TestApp};

fn field(body: &Value, key: &str) -> String {
    body[key].as_str().unwrap_or_else(|| panic!("no {key} in {body}")).to_owned()
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Reply {
    app.call("POST", "/v1/sessions/refresh", None, Some(&json!({ "refresh_token": refresh_token }).to_string())).await
}

/// The app in `auth_mode = "app"`, and one app user made through the server API.
async fn app_mode(backend: &Backend) -> (TestApp, String) {
    let sessions = runtime::SessionPolicy { open_registration: false, ..TestApp::default_sessions() };
    let app = TestApp::with_sessions(backend, 1000, None, sessions);
    let body = json!({ "name": "Ada" }).to_string();
    let reply = app.call("PUT", "/v1/admin/users/auth0%7C42", Some(&app.server_key), Some(&body)).await;
    let id = field(reply.assert_status(200), "id");
    (app, id)
}

async fn admin_session(app: &TestApp, app_user: &str) -> Value {
    let path = format!("/v1/admin/users/{app_user}/sessions");
    app.call("POST", &path, Some(&app.server_key), None).await.assert_status(201).clone()
}

pub async fn registration_starts_a_session_that_refreshes_and_signs_out(backend: &Backend) {
    let app = TestApp::new(backend);
    let reply = app.call("POST", "/v1/users", None, Some(r#"{"name":"alice"}"#)).await;
    let first = reply.assert_status(201).clone();
    let mut keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["access_token", "expires_in", "id", "name", "refresh_token", "token"]);
    assert_eq!(first["token"], first["access_token"], "v1 clients keep reading `token`");
    assert_eq!(first["expires_in"], 3600);
    let id = field(&first, "id");
    app.get(&format!("/v1/users/{id}"), &field(&first, "access_token")).await.assert_status(200);

    let second = refresh(&app, &field(&first, "refresh_token")).await.assert_status(200).clone();
    assert_eq!((second["id"].clone(), second["name"].clone()), (json!(id), json!("alice")));
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    app.get("/v1/messages", &field(&second, "access_token")).await.assert_status(200);
    let third = refresh(&app, &field(&second, "refresh_token")).await.assert_status(200).clone();
    // The first refresh token again: copied. The session is over, its newest token included.
    refresh(&app, &field(&first, "refresh_token")).await.assert_error(401, "invalid_refresh_token");
    refresh(&app, &field(&third, "refresh_token")).await.assert_error(401, "invalid_refresh_token");

    for bad in ["", "garbage", "a.b.c.d", &format!("{id}.s_1.0.AAAA")] {
        refresh(&app, bad).await.assert_error(401, "invalid_refresh_token");
    }
    app.call("POST", "/v1/sessions/refresh", None, Some("{}")).await.assert_error(422, "invalid_body");

    // Logging out ends the session's refresh; logging out everywhere ends every session.
    let (app, _) = app_mode(backend).await;
    let (phone, laptop, tablet) = (
        admin_session(&app, "auth0%7C42").await,
        admin_session(&app, "auth0%7C42").await,
        admin_session(&app, "auth0%7C42").await,
    );
    app.delete("/v1/sessions/current", &field(&phone, "access_token")).await.assert_status(204);
    refresh(&app, &field(&phone, "refresh_token")).await.assert_error(401, "invalid_refresh_token");
    let laptop = refresh(&app, &field(&laptop, "refresh_token")).await.assert_status(200).clone();
    app.delete("/v1/sessions", &field(&tablet, "access_token")).await.assert_status(204);
    refresh(&app, &field(&laptop, "refresh_token")).await.assert_error(401, "invalid_refresh_token");
    refresh(&app, &field(&tablet, "refresh_token")).await.assert_error(401, "invalid_refresh_token");
}

pub async fn access_tokens_expire_and_a_refresh_renews_them(backend: &Backend) {
    // Expiry is in whole seconds: a token issued at t expires between t + 1 and t + 2 s, so the
    // renewed token below has at least a second to be used (a TTL of 1 left it milliseconds).
    let sessions = runtime::SessionPolicy { access_ttl_secs: 2, ..TestApp::default_sessions() };
    let app = TestApp::with_sessions(backend, 1000, None, sessions);
    let session = app.call("POST", "/v1/users", None, Some(r#"{"name":"brief"}"#)).await.assert_status(201).clone();
    assert_eq!(session["expires_in"], 2);
    // Past two seconds, the token has expired whatever the rounding.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let expired = app.get("/v1/messages", &field(&session, "access_token")).await;
    expired.assert_error(401, "token_expired");
    let challenge = expired.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
    let renewed = refresh(&app, &field(&session, "refresh_token")).await.assert_status(200).clone();
    app.get("/v1/messages", &field(&renewed, "access_token")).await.assert_status(200);
}

pub async fn app_mode_closes_registration_and_the_server_api_makes_users(backend: &Backend) {
    let (app, id) = app_mode(backend).await;
    app.call("POST", "/v1/users", None, Some(r#"{"name":"eve"}"#)).await.assert_error(403, "registration_closed");

    let rename = json!({ "name": "Ada L." }).to_string();
    let again = app.call("PUT", "/v1/admin/users/auth0%7C42", Some(&app.server_key), Some(&rename)).await;
    assert_eq!(again.assert_status(200), &json!({ "id": id, "name": "Ada L.", "app_user_id": "auth0|42" }));
    let session = admin_session(&app, "auth0%7C42").await;
    assert_eq!((field(&session, "id"), field(&session, "name")), (id.clone(), "Ada L.".to_owned()));
    let profile = app.get(&format!("/v1/users/{id}"), &field(&session, "access_token")).await;
    assert_eq!(profile.assert_status(200), &json!({ "id": id, "name": "Ada L." }), "the app's id is never shown");

    let key = Some(app.server_key.as_str());
    app.call("POST", "/v1/admin/users/nobody/sessions", key, None).await.assert_error(404, "user_not_found");
    app.call("DELETE", "/v1/admin/users/nobody/sessions", key, None).await.assert_error(404, "user_not_found");
    let body = Some(r#"{"name":"x"}"#);
    app.call("PUT", "/v1/admin/users/a%00b", key, body).await.assert_error(422, "invalid_app_user_id");
    app.call("PUT", &format!("/v1/admin/users/{}", "x".repeat(256)), key, body)
        .await
        .assert_error(422, "invalid_app_user_id");
    app.call("PUT", "/v1/admin/users/ok", key, Some(r#"{"name":""}"#)).await.assert_error(422, "invalid_name");

    app.call("DELETE", "/v1/admin/users/auth0%7C42/sessions", key, None).await.assert_status(204);
    refresh(&app, &field(&session, "refresh_token")).await.assert_error(401, "invalid_refresh_token");
}

pub async fn the_server_key_and_user_tokens_open_only_their_own_routes(backend: &Backend) {
    let (app, _) = app_mode(backend).await;
    let user_token = field(&admin_session(&app, "auth0%7C42").await, "access_token");
    let other_key = TestApp::new(backend).server_key;
    let admin_routes = [
        ("PUT", "/v1/admin/users/someone", Some(r#"{"name":"x"}"#)),
        ("POST", "/v1/admin/users/auth0%7C42/sessions", None),
        ("DELETE", "/v1/admin/users/auth0%7C42/sessions", None),
        ("DELETE", "/v1/admin/users/auth0%7C42", None),
    ];
    for (method, path, body) in admin_routes {
        app.call(method, path, None, body).await.assert_error(401, "missing_token");
        for wrong in [user_token.as_str(), other_key.as_str(), "sk_", "garbage"] {
            app.call(method, path, Some(wrong), body).await.assert_error(401, "invalid_server_key");
        }
    }
    for (method, path) in [("GET", "/v1/messages"), ("DELETE", "/v1/sessions"), ("DELETE", "/v1/sessions/current")] {
        app.call(method, path, Some(&app.server_key), None).await.assert_error(401, "invalid_token");
    }
    // Nothing above changed the user: their session still works.
    app.get("/v1/messages", &user_token).await.assert_status(200);
}

pub async fn the_server_api_erases_a_user(backend: &Backend) {
    let (app, id) = app_mode(backend).await;
    let key = Some(app.server_key.as_str());
    let session = admin_session(&app, "auth0%7C42").await;
    let token = field(&session, "access_token");
    let body = json!({ "name": "Bea" }).to_string();
    let bea = app.call("PUT", "/v1/admin/users/bea", key, Some(&body)).await.assert_status(200).clone();
    let bea_token = field(&admin_session(&app, "bea").await, "access_token");
    let to_bea = format!("/v1/users/{}/messages", field(&bea, "id"));
    app.post(&to_bea, &token, &json!({ "text": "before I go" })).await.assert_status(201);

    app.call("DELETE", "/v1/admin/users/auth0%7C42", key, None).await.assert_status(204);
    app.get(&format!("/v1/users/{id}"), &bea_token).await.assert_error(404, "user_not_found");
    refresh(&app, &field(&session, "refresh_token")).await.assert_error(401, "invalid_refresh_token");
    let feed = app.get("/v1/messages", &bea_token).await.assert_status(200).clone();
    assert_eq!(feed["messages"][0]["text"], "before I go", "what they sent others stays");
    let to_them = format!("/v1/users/{id}/messages");
    app.post(&to_them, &bea_token, &json!({ "text": "hello?" })).await.assert_error(404, "user_not_found");
    // Erased already, or never known: 404, and the app's id may make a new user.
    app.call("DELETE", "/v1/admin/users/auth0%7C42", key, None).await.assert_error(404, "user_not_found");
    app.call("DELETE", "/v1/admin/users/nobody", key, None).await.assert_error(404, "user_not_found");
    let again = app.call("PUT", "/v1/admin/users/auth0%7C42", key, Some(&body)).await.assert_status(200).clone();
    assert_ne!(field(&again, "id"), id);
}
