//! The conversation routes over HTTP: shapes, cursors, read receipts, membership entries in polls
//! only when asked for, and every error with its code.

use serde_json::{Value, json};

use crate::Backend;
use crate::client::TestApp;

fn texts(messages: &Value) -> Vec<&str> {
    messages.as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect()
}

pub async fn conversation_routes_and_their_errors(backend: &Backend) {
    let app = TestApp::new(backend);
    let (alice, bob, carol) = (app.register("alice").await, app.register("bob").await, app.register("carol").await);
    let mut sent = Vec::new();
    for i in 0..5 {
        let reply = app.send_direct(&bob, &alice.id, &format!("b{i}")).await;
        sent.push(reply.assert_status(201)["id"].as_str().unwrap().to_owned());
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let group = app.create_group(&carol, &[&alice]).await;

    let inbox = app.get("/v1/conversations", &alice.token).await.assert_status(200).clone();
    let first = &inbox["conversations"][0];
    assert_eq!(
        (first["id"].as_str(), first["kind"].as_str(), first["name"].as_str()),
        (Some(group.as_str()), Some("group"), Some("team"))
    );
    assert!(first["last_message"].is_null() && first["read_up_to"].is_null());
    let with_bob = &inbox["conversations"][1];
    assert_eq!((with_bob["id"].as_str(), with_bob["unread"].as_u64()), (Some(bob.id.as_str()), Some(5)));
    assert_eq!(with_bob["last_message"]["text"], "b4");
    assert!(with_bob["updated_at"].as_str().unwrap().ends_with('Z'));
    assert!(inbox["next"].is_null());
    let paged = app.get("/v1/conversations?limit=1", &alice.token).await.assert_status(200).clone();
    let next = paged["next"].as_str().unwrap();
    let rest =
        app.get(&format!("/v1/conversations?limit=1&before={next}"), &alice.token).await.assert_status(200).clone();
    assert_eq!(rest["conversations"][0]["id"], bob.id.as_str());

    // History newest first, then back with `next`; forward from a message id.
    let path = format!("/v1/conversations/{}/messages", bob.id);
    let page = app.get(&format!("{path}?limit=2"), &alice.token).await.assert_status(200).clone();
    assert_eq!(texts(&page["messages"]), ["b4", "b3"]);
    let next = page["next"].as_str().unwrap();
    let older = app.get(&format!("{path}?limit=5&before={next}"), &alice.token).await.assert_status(200).clone();
    assert_eq!((texts(&older["messages"]), older["next"].is_null()), (vec!["b2", "b1", "b0"], true));
    let unread = app.get(&format!("{path}?after={}", sent[2]), &alice.token).await.assert_status(200).clone();
    assert_eq!(texts(&unread["messages"]), ["b3", "b4"]);
    assert!(unread["next"].is_string(), "going forward there is always a next");

    // Read positions and receipts.
    let read = format!("/v1/conversations/{}/read", bob.id);
    let mark = |id: &str| json!({ "up_to": id }).to_string();
    app.call("PUT", &read, Some(&alice.token), Some(&mark(&sent[3]))).await.assert_status(204);
    app.call("PUT", &read, Some(&alice.token), Some(&mark(&sent[0]))).await.assert_status(204);
    let detail = app.get(&format!("/v1/conversations/{}", alice.id), &bob.token).await.assert_status(200).clone();
    let receipts = detail["members"].as_array().unwrap();
    let alices = receipts.iter().find(|m| m["id"] == alice.id.as_str()).unwrap();
    assert_eq!(alices["read_up_to"], sent[3].as_str(), "{detail}");
    assert_eq!((detail["unread"].as_u64(), detail["kind"].as_str()), (Some(0), Some("direct")));
    let inbox = app.get("/v1/conversations", &alice.token).await.assert_status(200).clone();
    let with_bob =
        inbox["conversations"].as_array().unwrap().iter().find(|c| c["id"] == bob.id.as_str()).unwrap().clone();
    assert_eq!((with_bob["unread"].as_u64(), with_bob["read_up_to"].as_str()), (Some(1), Some(sent[3].as_str())));

    // Membership entries: only for a poll that asks.
    let plain = app.get("/v1/messages", &alice.token).await.assert_status(200).clone();
    assert!(plain["messages"].as_array().unwrap().iter().all(|m| m["kind"] != "membership"));
    let all = app.get("/v1/messages?include=membership", &alice.token).await.assert_status(200).clone();
    let entries: Vec<&Value> =
        all["messages"].as_array().unwrap().iter().filter(|m| m["kind"] == "membership").collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0]["group"].as_str(), entries[0]["change"].as_str(), entries[0]["by"].as_str()),
        (Some(group.as_str()), Some("added"), Some(carol.id.as_str()))
    );
    assert_eq!(plain["next"], all["next"], "the cursor moves past what is left out");

    // A group's `next` on DynamoDB vouches for what the store read, signed and bound to its user
    // and conversation: followed as it is, it pages on; edited, or another user's, it is refused.
    for text in ["g0", "g1", "g2"] {
        app.post(&format!("/v1/groups/{group}/messages"), &carol.token, &json!({ "text": text }))
            .await
            .assert_status(201);
    }
    let in_group = format!("/v1/conversations/{group}/messages");
    let page = app.get(&format!("{in_group}?limit=1"), &alice.token).await.assert_status(200).clone();
    let next = page["next"].as_str().unwrap().to_owned();
    assert_eq!(next.contains('.'), backend.dynamo.is_some(), "signed on DynamoDB: {next}");
    let older = app.get(&format!("{in_group}?limit=5&before={next}"), &alice.token).await.assert_status(200).clone();
    assert_eq!(texts(&older["messages"]), ["g1", "g0"]);
    if let Some((body, mac)) = next.split_once('.') {
        let mut edited = body.to_owned().into_bytes();
        edited[0] = if edited[0] == b'A' { b'B' } else { b'A' };
        let edited = format!("{}.{mac}", String::from_utf8(edited).unwrap());
        app.get(&format!("{in_group}?before={edited}"), &alice.token).await.assert_error(400, "invalid_cursor");
        app.get(&format!("{in_group}?before={next}"), &carol.token).await.assert_error(400, "invalid_cursor");
    }

    // Errors.
    app.get("/v1/messages?include=everything", &alice.token).await.assert_error(400, "invalid_query");
    app.get(&format!("{path}?before=x&after=y"), &alice.token).await.assert_error(400, "invalid_query");
    app.get(&format!("{path}?before=%21%21"), &alice.token).await.assert_error(400, "invalid_cursor");
    app.get("/v1/conversations?before=nope", &alice.token).await.assert_error(400, "invalid_cursor");
    app.get("/v1/conversations?limit=0", &alice.token).await.assert_error(400, "invalid_limit");
    let dave = app.register("dave").await;
    app.get(&format!("/v1/conversations/{}/messages", dave.id), &alice.token)
        .await
        .assert_error(404, "conversation_not_found");
    app.get(&format!("/v1/conversations/{}", dave.id), &alice.token).await.assert_error(404, "conversation_not_found");
    app.get("/v1/conversations/g_nope", &alice.token).await.assert_error(404, "conversation_not_found");
    let other = format!("/v1/conversations/{}/read", dave.id);
    app.call("PUT", &other, Some(&alice.token), Some(&mark(&sent[0])))
        .await
        .assert_error(404, "conversation_not_found");
    app.call("PUT", &read, Some(&alice.token), Some(&mark("m_nothing"))).await.assert_error(404, "message_not_found");
    app.call("PUT", &read, Some(&alice.token), Some(&mark("m_nothing.3"))).await.assert_error(404, "message_not_found");
    app.call("PUT", &read, Some(&alice.token), Some("{\"up_to\":3}")).await.assert_error(422, "invalid_body");
    app.call("PUT", &read, Some(&alice.token), Some("{}")).await.assert_error(422, "invalid_body");
    app.delete(&format!("/v1/groups/{group}/members/{}", alice.id), &alice.token).await.assert_status(204);
    app.get(&format!("/v1/conversations/{group}"), &alice.token).await.assert_error(403, "not_a_member");
}
