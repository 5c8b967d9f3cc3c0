//! Every route and every error row of the HTTP contract, in-process. Each case gets a fresh
//! backend; [`TestApp::raw`] additionally checks that every 4xx/5xx body has a JSON `code`.

use axum::body::Body;
use axum::http::Request;
use runtime::api::rate_limit::RateLimiter;
use serde_json::{Value, json};

use crate::Backend;
use crate::client::TestApp;

fn texts(messages: &[Value]) -> Vec<&str> {
    messages.iter().map(|m| m["text"].as_str().unwrap()).collect()
}

pub async fn registration_and_user_lookup(backend: &Backend) {
    let app = TestApp::new(backend);
    let reply = app.call("POST", "/v1/users", None, Some(r#"{"name":"  Zoë  "}"#)).await;
    let body = reply.assert_status(201).clone();
    assert_eq!(body["name"], "Zoë", "names are stored trimmed");
    let (id, token) = (body["id"].as_str().unwrap(), body["token"].as_str().unwrap());
    assert!(!id.is_empty() && !token.is_empty());
    assert_eq!(body.as_object().unwrap().len(), 6, "the session shape (tests/src/sessions.rs)");

    let reply = app.get(&format!("/v1/users/{id}"), token).await;
    assert_eq!(reply.assert_status(200), &json!({ "id": id, "name": "Zoë" }));
    app.get("/v1/users/u_00000000000000000000000000000000", token).await.assert_error(404, "user_not_found");
    app.get("/v1/users/nonexistent", token).await.assert_error(404, "user_not_found");
    app.get(&format!("/v1/users/{}", "x".repeat(300)), token).await.assert_error(404, "user_not_found");

    // 64 characters after trimming is the limit, counted in characters, not bytes.
    app.call("POST", "/v1/users", None, Some(&json!({ "name": "é".repeat(64) }).to_string())).await.assert_status(201);
    for bad in [
        json!({ "name": "é".repeat(65) }),
        json!({ "name": "   " }),
        json!({ "name": "" }),
        json!({ "name": "a\u{0}b" }),
    ] {
        app.call("POST", "/v1/users", None, Some(&bad.to_string())).await.assert_error(422, "invalid_name");
    }
}

pub async fn bad_request_bodies_get_json_errors(backend: &Backend) {
    let app = TestApp::new(backend);
    let post = |body: Body| Request::builder().method("POST").uri("/v1/users").body(body).unwrap();
    app.raw(post(Body::from("{\"name\":"))).await.assert_error(400, "malformed_json");
    app.raw(post(Body::from("not json"))).await.assert_error(400, "malformed_json");
    app.raw(post(Body::empty())).await.assert_error(400, "malformed_json");
    app.raw(post(Body::from(vec![b'{', b'"', 0xff, 0xfe, b'"', b'}']))).await.assert_error(400, "malformed_json");
    app.raw(post(Body::from("{\"name\":\"a\",\"admin\":true}"))).await.assert_error(422, "invalid_body");
    app.raw(post(Body::from("{\"name\":5}"))).await.assert_error(422, "invalid_body");
    app.raw(post(Body::from("{}"))).await.assert_error(422, "invalid_body");
    app.raw(post(Body::from("[\"alice\"]"))).await.assert_error(422, "invalid_body");
    let huge = json!({ "name": "a".repeat(70 * 1024) }).to_string();
    app.raw(post(Body::from(huge))).await.assert_error(413, "payload_too_large");
    // Just under the limit is parsed (and then refused for its content, not its size).
    let big = json!({ "name": "a".repeat(60 * 1024) }).to_string();
    app.raw(post(Body::from(big))).await.assert_error(422, "invalid_name");
    // curl's default form content type is accepted: the body is JSON either way.
    let form = Request::builder()
        .method("POST")
        .uri("/v1/users")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("{\"name\":\"curl\"}"))
        .unwrap();
    app.raw(form).await.assert_status(201);
}

pub async fn authentication_is_required_and_checked(backend: &Backend) {
    let app = TestApp::new(backend);
    let alice = app.register("alice").await;
    let routes = [
        ("GET", format!("/v1/users/{}", alice.id)),
        ("PUT", format!("/v1/me/blocks/{}", alice.id)),
        ("DELETE", format!("/v1/me/blocks/{}", alice.id)),
        ("GET", "/v1/me/blocks".to_owned()),
        ("POST", "/v1/groups".to_owned()),
        ("GET", "/v1/groups/g_1".to_owned()),
        ("PUT", format!("/v1/groups/g_1/members/{}", alice.id)),
        ("DELETE", format!("/v1/groups/g_1/members/{}", alice.id)),
        ("POST", format!("/v1/users/{}/messages", alice.id)),
        ("POST", "/v1/groups/g_1/messages".to_owned()),
        ("GET", "/v1/messages".to_owned()),
    ];
    let forged = format!("{}.AAAA", alice.id);
    let other_key = {
        let other = TestApp::new(backend);
        other.register("mallory").await.token
    };
    for (method, path) in &routes {
        let missing = app.call(method, path, None, Some("{}")).await;
        missing.assert_error(401, "missing_token");
        assert_eq!(missing.headers["www-authenticate"], "Bearer");
        app.call(method, path, Some("garbage"), Some("{}")).await.assert_error(401, "invalid_token");
        app.call(method, path, Some(&forged), Some("{}")).await.assert_error(401, "invalid_token");
        app.call(method, path, Some(&other_key), Some("{}")).await.assert_error(401, "invalid_token");
    }
    let basic = Request::builder()
        .uri("/v1/me/blocks")
        .header("authorization", format!("Basic {}", alice.token))
        .body(Body::empty())
        .unwrap();
    app.raw(basic).await.assert_error(401, "invalid_token");
    let lower = Request::builder()
        .uri("/v1/me/blocks")
        .header("authorization", format!("bearer {}", alice.token))
        .body(Body::empty())
        .unwrap();
    app.raw(lower).await.assert_status(200);
}

pub async fn blocks_routes(backend: &Backend) {
    let app = TestApp::new(backend);
    let (alice, bob, carol) = (app.register("alice").await, app.register("bob").await, app.register("carol").await);
    assert_eq!(app.get("/v1/me/blocks", &alice.token).await.assert_status(200), &json!({ "blocked": [] }));
    for _ in 0..2 {
        let reply = app.put(&format!("/v1/me/blocks/{}", bob.id), &alice.token).await;
        assert_eq!((reply.status.as_u16(), &reply.body), (204, &Value::Null));
    }
    app.put(&format!("/v1/me/blocks/{}", carol.id), &alice.token).await.assert_status(204);
    let mut expected = vec![bob.id.clone(), carol.id.clone()];
    expected.sort();
    assert_eq!(app.get("/v1/me/blocks", &alice.token).await.assert_status(200), &json!({ "blocked": expected }));
    app.put("/v1/me/blocks/u_00000000000000000000000000000000", &alice.token).await.assert_error(404, "user_not_found");
    app.put(&format!("/v1/me/blocks/{}", alice.id), &alice.token).await.assert_error(422, "cannot_block_self");
    for _ in 0..2 {
        app.delete(&format!("/v1/me/blocks/{}", bob.id), &alice.token).await.assert_status(204);
    }
    app.delete("/v1/me/blocks/nobody", &alice.token).await.assert_status(204);
    assert_eq!(app.get("/v1/me/blocks", &alice.token).await.assert_status(200), &json!({ "blocked": [carol.id] }));

    // Consent in groups: carol, whom alice blocks, cannot add alice to a group; bob can, and so
    // can carol once alice unblocks her.
    let group = app.post("/v1/groups", &carol.token, &json!({ "name": "carol's" })).await.assert_status(201).clone();
    let members = format!("/v1/groups/{}/members", group["id"].as_str().unwrap());
    app.put(&format!("{members}/{}", alice.id), &carol.token).await.assert_error(403, "blocked");
    app.put(&format!("{members}/{}", bob.id), &carol.token).await.assert_status(204);
    app.put(&format!("{members}/{}", alice.id), &bob.token).await.assert_status(204);
    app.put(&format!("{members}/{}", alice.id), &carol.token).await.assert_status(204);
    app.delete(&format!("{members}/{}", alice.id), &alice.token).await.assert_status(204);
    app.delete(&format!("/v1/me/blocks/{}", carol.id), &alice.token).await.assert_status(204);
    app.put(&format!("{members}/{}", alice.id), &carol.token).await.assert_status(204);
}

pub async fn group_routes_and_their_errors(backend: &Backend) {
    let app = TestApp::with(backend, 3, None);
    let (owner, bob, carol, dave) = (
        app.register("owner").await,
        app.register("bob").await,
        app.register("carol").await,
        app.register("dave").await,
    );
    let reply = app.post("/v1/groups", &owner.token, &json!({ "name": " team " })).await;
    let group = reply.assert_status(201).clone();
    let id = group["id"].as_str().unwrap();
    assert_eq!(group, json!({ "id": id, "name": "team", "owner": owner.id, "members": [owner.id] }));
    app.post("/v1/groups", &owner.token, &json!({ "name": "" })).await.assert_error(422, "invalid_name");
    app.post("/v1/groups", &owner.token, &json!({ "name": "x", "members": [] }))
        .await
        .assert_error(422, "invalid_body");
    app.call("POST", "/v1/groups", Some(&owner.token), Some("{")).await.assert_error(400, "malformed_json");

    assert_eq!(app.get(&format!("/v1/groups/{id}"), &owner.token).await.assert_status(200), &group);
    app.get(&format!("/v1/groups/{id}"), &bob.token).await.assert_error(403, "not_a_member");
    app.get("/v1/groups/g_00000000000000000000000000000000", &bob.token).await.assert_error(404, "group_not_found");

    let member = |user: &str| format!("/v1/groups/{id}/members/{user}");
    app.put(&member(&bob.id), &owner.token).await.assert_status(204);
    app.put(&member(&carol.id), &bob.token).await.assert_status(204);
    app.put(&member(&dave.id), &bob.token).await.assert_error(409, "group_full");
    app.put(&member(&carol.id), &owner.token).await.assert_status(204);
    app.put(&member(&carol.id), &dave.token).await.assert_error(403, "not_a_member");
    app.put(&member("u_00000000000000000000000000000000"), &owner.token).await.assert_error(404, "user_not_found");
    app.put(&format!("/v1/groups/g_00000000000000000000000000000000/members/{}", bob.id), &owner.token)
        .await
        .assert_error(404, "group_not_found");
    let body = app.get(&format!("/v1/groups/{id}"), &carol.token).await.assert_status(200).clone();
    assert_eq!(body["members"], json!([owner.id, bob.id, carol.id]));

    app.delete(&member(&carol.id), &bob.token).await.assert_error(403, "not_owner");
    app.delete(&member(&dave.id), &owner.token).await.assert_error(404, "member_not_found");
    app.delete(&member(&dave.id), &dave.token).await.assert_error(403, "not_a_member");
    app.delete(&member(&carol.id), &carol.token).await.assert_status(204);
    app.delete(&member(&bob.id), &owner.token).await.assert_status(204);
    app.get(&format!("/v1/groups/{id}"), &bob.token).await.assert_error(403, "not_a_member");

    // The owner leaves: the longest-standing member takes over.
    app.put(&member(&bob.id), &owner.token).await.assert_status(204);
    app.put(&member(&carol.id), &owner.token).await.assert_status(204);
    app.delete(&member(&owner.id), &owner.token).await.assert_status(204);
    let body = app.get(&format!("/v1/groups/{id}"), &bob.token).await.assert_status(200).clone();
    assert_eq!((body["owner"].as_str(), body["members"].clone()), (Some(bob.id.as_str()), json!([bob.id, carol.id])));
}

pub async fn membership_authorization_comes_before_existence(backend: &Backend) {
    let app = TestApp::new(backend);
    let (owner, outsider) = (app.register("owner").await, app.register("outsider").await);
    let id = app.create_group(&owner, &[]).await;
    for target in ["nonexistent", "u_00000000000000000000000000000000", owner.id.as_str(), outsider.id.as_str()] {
        let path = format!("/v1/groups/{id}/members/{target}");
        app.put(&path, &outsider.token).await.assert_error(403, "not_a_member");
        app.delete(&path, &outsider.token).await.assert_error(403, "not_a_member");
    }
    app.put(&format!("/v1/groups/{id}/members/nonexistent"), &owner.token).await.assert_error(404, "user_not_found");
    app.delete(&format!("/v1/groups/{id}/members/nonexistent"), &owner.token)
        .await
        .assert_error(404, "member_not_found");
}

pub async fn direct_message_routes_and_their_errors(backend: &Backend) {
    let app = TestApp::new(backend);
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let reply = app.send_direct(&alice, &bob.id, "  hi bob\n").await;
    let message = reply.assert_status(201).clone();
    assert_eq!(message["from"], alice.id.as_str());
    assert_eq!(message["to"], bob.id.as_str());
    assert_eq!(message["kind"], "direct");
    assert_eq!(message["text"], "  hi bob\n", "texts are stored exactly as sent");
    let sent_at = message["sent_at"].as_str().unwrap();
    assert!(
        sent_at.len() == 24 && sent_at.ends_with('Z') && sent_at.as_bytes()[19] == b'.',
        "RFC 3339 UTC with milliseconds: {sent_at}"
    );
    let mut keys: Vec<_> = message.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["from", "id", "kind", "sent_at", "text", "to"]);

    app.send_direct(&alice, "u_00000000000000000000000000000000", "anyone?").await.assert_error(404, "user_not_found");
    app.send_direct(&alice, &bob.id, " \n ").await.assert_error(422, "invalid_text");
    app.send_direct(&alice, &bob.id, "").await.assert_error(422, "invalid_text");
    app.send_direct(&alice, &bob.id, &"é".repeat(4001)).await.assert_error(422, "invalid_text");
    app.send_direct(&alice, &bob.id, &"é".repeat(4000)).await.assert_status(201);
    let path = format!("/v1/users/{}/messages", bob.id);
    app.post(&path, &alice.token, &json!({ "text": "x", "client_id": "" }))
        .await
        .assert_error(422, "invalid_client_id");
    app.post(&path, &alice.token, &json!({ "text": "x", "client_id": "k".repeat(65) }))
        .await
        .assert_error(422, "invalid_client_id");
    app.post(&path, &alice.token, &json!({ "text": "x", "urgent": true })).await.assert_error(422, "invalid_body");
    app.post(&path, &alice.token, &json!({ "text": 7 })).await.assert_error(422, "invalid_body");

    app.put(&format!("/v1/me/blocks/{}", alice.id), &bob.token).await.assert_status(204);
    app.send_direct(&alice, &bob.id, "blocked?").await.assert_error(403, "blocked");
    app.send_direct(&bob, &alice.id, "I can still write to you").await.assert_status(201);
    app.send_direct(&alice, &alice.id, "note to self").await.assert_status(201);

    let (feed, _) = app.drain(&alice, None).await;
    assert_eq!(texts(&feed), ["  hi bob\n", &"é".repeat(4000), "I can still write to you", "note to self"]);
}

pub async fn group_message_routes_and_their_errors(backend: &Backend) {
    let app = TestApp::new(backend);
    let (alice, bob, carol) = (app.register("alice").await, app.register("bob").await, app.register("carol").await);
    let id = app.create_group(&alice, &[&bob]).await;
    app.put(&format!("/v1/me/blocks/{}", alice.id), &bob.token).await.assert_status(204);
    let path = format!("/v1/groups/{id}/messages");
    let message = app.post(&path, &alice.token, &json!({ "text": "hello team" })).await.assert_status(201).clone();
    assert_eq!((message["kind"].as_str(), message["to"].as_str()), (Some("group"), Some(id.as_str())));
    app.post(&path, &carol.token, &json!({ "text": "let me in" })).await.assert_error(403, "not_a_member");
    app.post("/v1/groups/g_00000000000000000000000000000000/messages", &alice.token, &json!({ "text": "?" }))
        .await
        .assert_error(404, "group_not_found");
    app.post(&path, &alice.token, &json!({ "text": "\t" })).await.assert_error(422, "invalid_text");

    app.put(&format!("/v1/groups/{id}/members/{}", carol.id), &bob.token).await.assert_status(204);
    app.post(&path, &carol.token, &json!({ "text": "hi all" })).await.assert_status(201);
    app.delete(&format!("/v1/groups/{id}/members/{}", bob.id), &bob.token).await.assert_status(204);
    app.post(&path, &alice.token, &json!({ "text": "bob left" })).await.assert_status(201);
    assert_eq!(texts(&app.drain(&alice, None).await.0), ["hello team", "hi all", "bob left"]);
    assert_eq!(texts(&app.drain(&bob, None).await.0), ["hello team", "hi all"]);
    assert_eq!(texts(&app.drain(&carol, None).await.0), ["hi all", "bob left"]);
}

pub async fn idempotent_sends_over_http(backend: &Backend) {
    let app = TestApp::new(backend);
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let path = format!("/v1/users/{}/messages", bob.id);
    let first =
        app.post(&path, &alice.token, &json!({ "text": "once", "client_id": "abc" })).await.assert_status(201).clone();
    let again =
        app.post(&path, &alice.token, &json!({ "text": "once", "client_id": "abc" })).await.assert_status(200).clone();
    assert_eq!(first, again, "a replay returns the original message, same id and timestamp");
    app.post(&path, &alice.token, &json!({ "text": "twice", "client_id": "abc" }))
        .await
        .assert_error(409, "client_id_conflict");
    assert_eq!(app.drain(&bob, None).await.0.len(), 1);
}

pub async fn polling_with_cursors(backend: &Backend) {
    let app = TestApp::new(backend);
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let empty = app.get("/v1/messages", &bob.token).await.assert_status(200).clone();
    assert_eq!((empty["messages"].clone(), empty["has_more"].clone()), (json!([]), json!(false)));
    let start = empty["next"].as_str().unwrap().to_owned();
    // Nothing new: `next` is the `after` that was sent.
    let again = app.get(&format!("/v1/messages?after={start}"), &bob.token).await.assert_status(200).clone();
    assert_eq!(again["next"], start.as_str());

    for i in 0..5 {
        app.send_direct(&alice, &bob.id, &format!("m{i}")).await.assert_status(201);
    }
    let page = app.get("/v1/messages?limit=2", &bob.token).await.assert_status(200).clone();
    assert_eq!(
        (texts(page["messages"].as_array().unwrap()), page["has_more"].as_bool()),
        (vec!["m0", "m1"], Some(true))
    );
    let cursor = page["next"].as_str().unwrap();
    let rest = app.get(&format!("/v1/messages?after={cursor}&limit=3"), &bob.token).await.assert_status(200).clone();
    assert_eq!(
        (texts(rest["messages"].as_array().unwrap()), rest["has_more"].as_bool()),
        (vec!["m2", "m3", "m4"], Some(false))
    );
    let end = rest["next"].as_str().unwrap().to_owned();
    let idle = app.get(&format!("/v1/messages?after={end}"), &bob.token).await.assert_status(200).clone();
    assert_eq!((idle["messages"].clone(), idle["next"].as_str()), (json!([]), Some(end.as_str())));

    app.send_direct(&bob, &alice.id, "reply").await.assert_status(201);
    let newer = app.get(&format!("/v1/messages?after={end}"), &bob.token).await.assert_status(200).clone();
    assert_eq!(texts(newer["messages"].as_array().unwrap()), ["reply"], "a sender sees their own messages");
    // The default page is 100.
    for i in 0..120 {
        app.send_direct(&alice, &bob.id, &format!("bulk{i}")).await.assert_status(201);
    }
    let default_page = app.get("/v1/messages", &bob.token).await.assert_status(200).clone();
    assert_eq!(
        (default_page["messages"].as_array().unwrap().len(), default_page["has_more"].as_bool()),
        (100, Some(true))
    );
    assert_eq!(app.drain(&bob, None).await.0.len(), 126);
}

pub async fn cursor_and_limit_errors(backend: &Backend) {
    let app = TestApp::new(backend);
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    let alices_cursor =
        app.get("/v1/messages", &alice.token).await.assert_status(200)["next"].as_str().unwrap().to_owned();
    app.get(&format!("/v1/messages?after={alices_cursor}"), &bob.token).await.assert_error(400, "invalid_cursor");
    for bad in ["", "garbage", "AAAAAAAAAAAAAAAAAAAAAAAAAAA", "%FF%FE", "a%20b"] {
        app.get(&format!("/v1/messages?after={bad}"), &alice.token).await.assert_error(400, "invalid_cursor");
    }
    for bad in ["0", "501", "-1", "abc", "", "2.5"] {
        app.get(&format!("/v1/messages?limit={bad}"), &alice.token).await.assert_error(400, "invalid_limit");
    }
    app.get("/v1/messages?limit=500", &alice.token).await.assert_status(200);
    app.get("/v1/messages?after=a&after=b", &alice.token).await.assert_error(400, "invalid_query");
}

pub async fn system_routes_and_fallbacks(backend: &Backend) {
    let app = TestApp::new(backend);
    let health = app.call("GET", "/health", None, None).await;
    assert_eq!(health.assert_status(200)["status"], "ok");
    let doc = app.call("GET", "/openapi.json", None, None).await.assert_status(200).clone();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/health", &["get"][..]),
        ("/openapi.json", &["get"]),
        ("/v1/users", &["post"]),
        ("/v1/users/{user_id}", &["get"]),
        ("/v1/users/{user_id}/messages", &["post"]),
        ("/v1/me/blocks", &["get"]),
        ("/v1/me/blocks/{user_id}", &["put", "delete"]),
        ("/v1/groups", &["post"]),
        ("/v1/groups/{group_id}", &["get"]),
        ("/v1/groups/{group_id}/members/{user_id}", &["put", "delete"]),
        ("/v1/groups/{group_id}/messages", &["post"]),
        ("/v1/messages", &["get"]),
        ("/v1/sessions", &["delete"]),
        ("/v1/sessions/current", &["delete"]),
        ("/v1/sessions/refresh", &["post"]),
        ("/v1/admin/users/{app_user_id}", &["put"]),
        ("/v1/admin/users/{app_user_id}/sessions", &["post", "delete"]),
        ("/v1/conversations", &["get"]),
        ("/v1/conversations/{conversation_id}", &["get"]),
        ("/v1/conversations/{conversation_id}/messages", &["get"]),
        ("/v1/conversations/{conversation_id}/read", &["put"]),
    ] {
        for method in methods {
            assert!(paths[path][*method].is_object(), "OpenAPI lacks {method} {path}");
        }
    }
    assert_eq!(paths.len(), 21, "OpenAPI documents routes that do not exist");
    // The documented message shape is the one served (messages are served as stored, unparsed).
    let schema = &doc["components"]["schemas"]["MessageView"];
    let mut documented: Vec<&str> = schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    documented.sort();
    assert_eq!(documented, ["from", "id", "kind", "sent_at", "text", "to"]);
    assert_eq!(schema["required"].as_array().unwrap().len(), 6);
    app.call("GET", "/v2/users", None, None).await.assert_error(404, "route_not_found");
    app.call("DELETE", "/health", None, None).await.assert_error(405, "method_not_allowed");
    app.call("PATCH", "/v1/users", None, None).await.assert_error(405, "method_not_allowed");
}

pub async fn rate_limit_answers_429_with_retry_after(backend: &Backend) {
    let app = TestApp::with(backend, 1000, RateLimiter::new(1, 3));
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    for _ in 0..3 {
        app.get("/v1/me/blocks", &alice.token).await.assert_status(200);
    }
    let limited = app.get("/v1/me/blocks", &alice.token).await;
    limited.assert_error(429, "rate_limited");
    let retry_after: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "retry-after {retry_after}");
    // Buckets are per user.
    app.get("/v1/me/blocks", &bob.token).await.assert_status(200);
}

/// A client importing a few hundred messages as fast as it can, then polling them, must not
/// meet the default rate limit.
pub async fn ordinary_bursts_are_not_rate_limited(backend: &Backend) {
    let app = TestApp::new(backend);
    let (alice, bob) = (app.register("alice").await, app.register("bob").await);
    for i in 0..400 {
        app.send_direct(&alice, &bob.id, &format!("import {i}")).await.assert_status(201);
    }
    assert_eq!(app.drain(&alice, None).await.0.len(), 400);
}
